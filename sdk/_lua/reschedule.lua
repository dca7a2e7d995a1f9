-- Move a scheduled task to a new due time.  Acts only on a task that is in the
-- delayed set right now (unscheduling is abort.lua in 'scheduled' mode).
--
-- KEYS[1] delayed   KEYS[2] wake stream
-- ARGV[1] task id   ARGV[2] new due ms (> 0)
-- Returns 1 = moved, 0 = the task is not scheduled
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
-- idle workers block on the streams; this wakes them to learn the new due time
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 16, '*', 'w', '1')
return 1
