-- Move a scheduled task to a new due time.  Acts only on a task that is in the
-- delayed set right now (unscheduling is abort.lua in 'scheduled' mode).
--
-- ARGV[1] task id   ARGV[2] new due ms (> 0)
-- Returns 1 = moved, 0 = the task is not scheduled
if not redis.call('ZSCORE', DELAYED, ARGV[1]) then
    return 0
end
redis.call('ZADD', DELAYED, ARGV[2], ARGV[1])
wake()
return 1
