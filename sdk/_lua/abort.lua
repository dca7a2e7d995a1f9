-- Abort a task that has not finished.
--   queued or scheduled: it is removed at once (its stream entry too) and the
--     aborted outcome is delivered to its routes;
--   held by a worker (prefetched or running): the abort is flagged on the task
--     and the holder is told on the control channel; it settles the task as
--     aborted (a worker that reclaims it sees the flag and does the same).
-- A finished or unknown task is left alone, and nothing is written for it.
-- With mode 'scheduled' (unschedule) only a task waiting in the delayed set is
-- aborted.  The caller built the outcome from the fn and enqueue time it read
-- (status.lua); when they changed since (the id finished and was sent again)
-- nothing is done and -1 asks it to read again.
--
-- ARGV[1] task id   ARGV[2] mode 'any' | 'scheduled'   ARGV[3] aborted outcome
-- ARGV[4] fn read before   ARGV[5] enqueue_ms read before
-- Returns 0 = not live (nothing done), 1 = aborted, 2 = held: abort requested,
--        -1 = the task changed: read it again
local id = ARGV[1]
local key = task_key(id)
local t = redis.call('HMGET', key, F_FN, F_ENQUEUED, F_HOLDER, F_ENTRY, F_PRIORITY, F_ROUTES, F_TTL)
if not t[1] then
    return 0
end
if t[1] ~= ARGV[4] or t[2] ~= ARGV[5] then
    return -1
end
if ARGV[2] == 'scheduled' and not redis.call('ZSCORE', DELAYED, id) then
    return 0
end
if t[3] and t[3] ~= '' then
    redis.call('HSET', key, F_ABORT, 1)
    redis.call('PUBLISH', CONTROL, id)
    return 2
end
redis.call('ZREM', DELAYED, id)
if t[4] and t[4] ~= '' then
    redis.call('XDEL', stream_key(t[5]), t[4])
end
redis.call('DEL', key)
deliver(id, ARGV[3], tonumber(t[7]) or DEFAULT_TTL_MS, t[6])
return 1
