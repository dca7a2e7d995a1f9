-- Move a scheduled task to a new due time, or unschedule it (abort it while it
-- is still waiting).  Acts only on a task that is in the delayed set right now.
--
-- KEYS[1] delayed   KEYS[2] wake stream   KEYS[3] tasks   KEYS[4] tries   KEYS[5] result key
-- KEYS[6] prio hash
-- ARGV[1] task id   ARGV[2] new due ms, or 0 to unschedule
-- ARGV[3] aborted outcome   ARGV[4] ttl_ms   ARGV[5] outcome channel   (unschedule only)
-- Returns 1 = done, 0 = the task is not scheduled
local id, due = ARGV[1], tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], id) then
    return 0
end
if due > 0 then
    redis.call('ZADD', KEYS[1], due, id)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', 16, '*', 'w', '1')
    return 1
end
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('HDEL', KEYS[6], id)
local ttl = tonumber(ARGV[4])
if ttl > 0 then
    redis.call('SET', KEYS[5], ARGV[3], 'PX', ttl)
elseif ttl < 0 then
    redis.call('SET', KEYS[5], ARGV[3])
end
redis.call('PUBLISH', ARGV[5], ARGV[3])
return 1
