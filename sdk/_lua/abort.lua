-- Abort a task that has not finished.
--   queued or scheduled: it is removed at once (a stream entry left behind is
--     dropped by the fetch that meets it) and the aborted outcome is stored and
--     published;
--   running: the abort is flagged and the holding worker is told on the control
--     channel; that worker cancels it and settles it as aborted.
-- A finished or unknown task is left alone, and nothing is written for it.
-- With mode 'scheduled' (unschedule), only a task still waiting in the delayed
-- set is aborted.
--
-- KEYS[1] tasks   KEYS[2] tries   KEYS[3] running   KEYS[4] delayed
-- KEYS[5] aborting   KEYS[6] result key   KEYS[7] prio hash
-- ARGV[1] task id   ARGV[2] aborted outcome   ARGV[3] ttl_ms (-1 forever, 0 none)
-- ARGV[4] outcome channel   ARGV[5] control channel   ARGV[6] 'any' | 'scheduled'
-- Returns 0 = not live (nothing done), 1 = aborted, 2 = running: abort requested
local id = ARGV[1]
if ARGV[6] == 'scheduled' then
    if not redis.call('ZSCORE', KEYS[4], id) then
        return 0
    end
elseif not redis.call('HGET', KEYS[1], id) then
    return 0
elseif redis.call('HEXISTS', KEYS[3], id) == 1 then
    redis.call('HSET', KEYS[5], id, 1)
    redis.call('PUBLISH', ARGV[5], id)
    return 2
end
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[7], id)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
    redis.call('SET', KEYS[6], ARGV[2], 'PX', ttl)
elseif ttl < 0 then
    redis.call('SET', KEYS[6], ARGV[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
