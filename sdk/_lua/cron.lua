-- Claim one tick of a cron job and enqueue its run: exactly once per tick across
-- any number of workers, with no leader.  Every worker computes the same tick
-- (a time in ms) from the crontab; the first to claim it moves the job's "last
-- tick" forward and enqueues; everyone else finds the tick already claimed.
--
-- ARGV[1] job name   ARGV[2] tick ms
-- ARGV[3] 'run', or 'catchup' at worker start: then a job never seen before only
--         records the tick (nothing ran before it, so there is nothing to catch up)
-- ARGV[4 .. 12] the run as a task: id, args, fn, enqueue_ms, signature, due_ms,
--         priority, ttl_ms, route (see create() in the prelude)
-- Returns 1 = enqueued, 0 = tick already claimed (or baseline recorded),
--        -1 = claimed, but the previous run of a unique job is still live (skipped)
local last = redis.call('HGET', CRONS, ARGV[1])
local tick = tonumber(ARGV[2])
if last and tonumber(last) >= tick then
    return 0
end
redis.call('HSET', CRONS, ARGV[1], tick)
if ARGV[3] == 'catchup' and not last then
    return 0
end
if redis.call('EXISTS', task_key(ARGV[4])) == 1 then
    return -1
end
create(4, false)
return 1
