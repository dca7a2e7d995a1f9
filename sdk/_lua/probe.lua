-- Check at connect time that this Redis user may do what relayq needs, without
-- touching any real task: every command is run on throwaway keys of the queue
-- (relayq:{q}:probe:<random>...) and on the queue's channels, and each refusal
-- is reported.  Redis checks ACL rules for commands a script runs too, so this
-- finds a missing command, key pattern or channel pattern before a real call
-- fails halfway.
--
-- ARGV[1] the probe's key suffix (random)   ARGV[2] 'client' | 'worker'
-- Returns an array of refusals: {command, Redis' message} pairs, flattened.
local p = BASE .. 'probe:' .. ARGV[1]
local h, z, x, str = p .. ':h', p .. ':z', p .. ':x', p .. ':s'
local refused = {}
-- An ACL refusal inside a script reads "NOPERM ..." on no version: 6.2 and 7.0 say
-- "The user executing the script can't run this command or subcommand" (or "can't
-- access at least one of the keys", "can't publish to the channel"), 7.2 and later
-- "ACL failure in script: ... no permissions ...".
local function is_refusal(message)
    return string.find(message, 'NOPERM', 1, true) or string.find(message, 'permission', 1, true)
        or string.find(message, 'user executing the script', 1, true)
        or string.find(message, 'ACL failure', 1, true)
end
local function try(name, ...)
    local ok, err = pcall(redis.call, ...)
    if not ok then
        local message = type(err) == 'table' and err.err or tostring(err)
        if is_refusal(message) then
            refused[#refused + 1] = name
            refused[#refused + 1] = message
        end
    end
    return ok and err or nil
end
-- the commands of the scripts a client runs (enqueue, watch, status, abort, reschedule,
-- view)
try('hset', 'HSET', h, 'f', '1')
try('hget', 'HGET', h, 'f')
try('hmget', 'HMGET', h, 'f', 'g')
try('exists', 'EXISTS', h)
try('unlink', 'UNLINK', str)
try('set', 'SET', str, '1', 'PX', 1000)
try('get', 'GET', str)
try('del', 'DEL', str)
try('zadd', 'ZADD', z, 1, 'm')
try('zscore', 'ZSCORE', z, 'm')
try('zrem', 'ZREM', z, 'm')
local entry = try('xadd', 'XADD', x, 'MAXLEN', '~', 16, '*', 'i', 'probe')
if entry then
    try('xdel', 'XDEL', x, entry)
end
try('xrange', 'XRANGE', x, '-', '+', 'COUNT', 1)
try('publish', 'PUBLISH', CONTROL, '')
try('publish', 'PUBLISH', inbox_channel('probe'), '')
if ARGV[2] == 'worker' then
    try('xgroup|create', 'XGROUP', 'CREATE', x, GROUP, '0', 'MKSTREAM')
    try('xreadgroup', 'XREADGROUP', 'GROUP', GROUP, 'probe', 'COUNT', 1, 'STREAMS', x, '>')
    -- the fetcher's idle wait (a blocking XREAD, which a script may not run; the
    -- ACL rule is the same without BLOCK)
    try('xread', 'XREAD', 'COUNT', 1, 'STREAMS', x, '0-0')
    try('xpending', 'XPENDING', x, GROUP, 'IDLE', 0, '-', '+', 1)
    try('xclaim', 'XCLAIM', x, GROUP, 'probe', 0, '0-1', 'JUSTID')
    try('xack', 'XACK', x, GROUP, '0-1')
    try('xinfo|consumers', 'XINFO', 'CONSUMERS', x, GROUP)
    try('xgroup|delconsumer', 'XGROUP', 'DELCONSUMER', x, GROUP, 'probe')
    try('xrevrange', 'XREVRANGE', x, '+', '-', 'COUNT', 1)
    try('xlen', 'XLEN', x)
    try('zrange', 'ZRANGE', z, 0, 0, 'WITHSCORES')
    -- the health reporter's pipeline (XLEN, ZCARD, INFO): a refusal there would only
    -- be logged, and would leave the worker without health records and pruning
    try('zcard', 'ZCARD', z)
    try('hgetall', 'HGETALL', h)
    try('incrby', 'INCRBY', str, 1)
    try('decrby', 'DECRBY', str, 1)
    -- live.lua keeps a streaming task's items as long as its outcome
    try('pexpire', 'PEXPIRE', x, 1000)
    try('persist', 'PERSIST', x)
end
pcall(redis.call, 'DEL', h, z, x, str)
return refused
