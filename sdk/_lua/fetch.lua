-- Take up to `count` ready tasks for one consumer, in a single round trip:
--   1. move due scheduled tasks to their priority's stream (at most move_limit);
--   2. when reclaim_ms > 0, reclaim deliveries whose lease lapsed (idle at least
--      reclaim_ms: their worker died or stalled) from other consumers, walking
--      each stream's pending list from a cursor, so lapsed entries behind many
--      live ones are reached too.  A consumer never reclaims its own entries: a
--      stalled worker that wakes up still runs them, and renews them;
--   3. read new entries through the consumer group, highest priority first;
--   4. for every entry, check that it is the task's current generation (the
--      task hash names this entry; a stale entry of an aborted, finished or
--      re-enqueued task is acknowledged and dropped unrun) and count the
--      delivery as a try.  (entry, try) is the fencing token finish.lua checks.
--
-- ARGV[1] consumer   ARGV[2] count   ARGV[3] now_ms   ARGV[4] move_limit
-- ARGV[5] reclaim_ms (0 = do not reclaim)   ARGV[6] dead-letter cap (entries)
-- ARGV[7] dead-letter cap (bytes)   ARGV[8] S, the number of priorities
-- ARGV[9 .. 8+S] priority names, highest first
-- ARGV[9+S .. 8+2S] reclaim cursor per stream ('-' = from the start)
-- Returns {entries, next_due_ms, last_ids, cursors}
--   entries: flat array of 10-tuples: priority index, entry id, task id, args, fn,
--            enqueue_ms, signature ('' unsigned), try, abort (0/1), ttl_ms
--   next_due_ms: due time of the earliest scheduled task, or -1
--   last_ids: when the group has delivered every entry (whatever was taken now),
--            the ids after which a blocking XREAD of the S streams and the wake
--            stream (in that order) waits for something new: the caller need not
--            fetch again before that; empty when it should fetch again at once (the
--            room is full, or stale entries used up this call's reading budget)
--   cursors: the reclaim cursor per stream for the next call (empty when reclaim_ms
--            is 0: the cursors given stay as they were)
local consumer = ARGV[1]
local count, now = tonumber(ARGV[2]), tonumber(ARGV[3])
local move_limit, reclaim_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local dead_cap, dead_bytes = tonumber(ARGV[6]), tonumber(ARGV[7])
local s = tonumber(ARGV[8])
-- stale entries (of aborted or finished tasks) read per stream and call at most:
-- they are dropped as they are met, and a long run of them must not block Redis
local stale_budget = 1000
local names, streams = {}, {}
for i = 1, s do
    names[i] = ARGV[8 + i]
    streams[i] = stream_key(names[i])
end

local due = redis.call('ZRANGE', DELAYED, '-inf', now, 'BYSCORE', 'LIMIT', 0, move_limit)
for _, id in ipairs(due) do
    redis.call('ZREM', DELAYED, id)
    local key = task_key(id)
    local t = redis.call('HMGET', key, F_FN, F_PRIORITY)
    if t[1] then
        push(key, id, t[2])
    end
end

local out = {}
local taken = 0
local function take(index, entry, fields)
    local stream = streams[index]
    local id = fields and fields[1] == 'i' and fields[2]
    if not id then
        -- not written by relayq: keep it for a person to look at, never run it
        local reason = 'malformed stream entry ' .. entry
        bury({'id', '', 'reason', reason, 'at', now}, #reason, dead_cap, dead_bytes)
        ack(stream, entry)
        return
    end
    local key = task_key(id)
    local ok, t = pcall(redis.call, 'HMGET', key, F_ENTRY, F_ARGS, F_FN, F_ENQUEUED,
        F_SIGNATURE, F_TRIES, F_ABORT, F_TTL)
    if not ok or t[1] ~= entry then
        ack(stream, entry)
        return
    end
    local try = (tonumber(t[6]) or 0) + 1
    redis.call('HSET', key, F_TRIES, try, F_HOLDER, consumer)
    local n = #out
    out[n + 1] = index
    out[n + 2] = entry
    out[n + 3] = id
    -- a hash that relayq did not write may lack fields: the worker then fails the
    -- task as bad input, which needs every value present
    out[n + 4] = t[2] or ''
    out[n + 5] = t[3] or ''
    out[n + 6] = tonumber(t[4]) or 0
    out[n + 7] = t[5] or ''
    out[n + 8] = try
    out[n + 9] = t[7] and 1 or 0
    out[n + 10] = tonumber(t[8]) or DEFAULT_TTL_MS
    taken = taken + 1
end

local cursors = {}
if reclaim_ms > 0 then
    for index = 1, s do
        local cursor = ARGV[8 + s + index]
        if taken < count then
            local start = cursor == '-' and '-' or '(' .. cursor
            local want = count - taken
            local pending = redis.call('XPENDING', streams[index], GROUP, 'IDLE', reclaim_ms,
                start, '+', want)
            for _, p in ipairs(pending) do
                if p[2] ~= consumer then
                    local claimed = redis.call('XCLAIM', streams[index], GROUP, consumer,
                        reclaim_ms, p[1])
                    local e = claimed[1]
                    if e then
                        take(index, e[1], e[2])
                    else
                        -- Redis 6.2 returns nil for an entry deleted from the stream
                        redis.call('XACK', streams[index], GROUP, p[1])
                    end
                end
            end
            cursor = (#pending < want) and '-' or pending[#pending][1]
        end
        cursors[index] = cursor
    end
end

-- read until `count` are taken or every stream has nothing more: entries that turn
-- out stale take no room, so a read that met only stale ones reads on
local exhausted = true
for index = 1, s do
    local read_so_far = 0
    while true do
        local want = count - taken
        if want <= 0 then
            exhausted = false  -- room is full: there may be more
            break
        end
        local read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', want,
            'STREAMS', streams[index], '>')
        local got = read and read[1][2] or {}
        for _, e in ipairs(got) do
            take(index, e[1], e[2])
        end
        if #got < want then
            break  -- this stream has nothing more
        end
        read_so_far = read_so_far + #got
        if read_so_far >= stale_budget then
            exhausted = false
            break
        end
    end
    if not exhausted then
        break
    end
end

local next_due = -1
local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
if first[2] then
    next_due = tonumber(first[2])
end
local last_ids = {}
local function last_id(key)
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    return last[1] and last[1][1] or '0-0'
end
if exhausted then
    for index = 1, s do
        last_ids[index] = last_id(streams[index])
    end
    last_ids[s + 1] = last_id(WAKE)
end
return {out, next_due, last_ids, cursors}
