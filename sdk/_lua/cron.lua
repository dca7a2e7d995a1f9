-- Claim one tick of a cron job and enqueue its run: exactly once per tick across
-- any number of workers, with no leader.  Every worker computes the same tick
-- (a time in ms) from the crontab; the first to claim it moves the job's "last
-- tick" forward and enqueues; everyone else finds the tick already claimed.
--
-- KEYS[1] crons hash   KEYS[2] tasks   KEYS[3] stream   KEYS[4] result key
-- ARGV[1] job name   ARGV[2] tick ms   ARGV[3] task id   ARGV[4] payload
-- ARGV[5] 'run', or 'catchup' at worker start: then a job never seen before only
--         records the tick (nothing ran before it, so there is nothing to catch up)
-- Returns 1 = enqueued, 0 = tick already claimed (or baseline recorded),
--        -1 = claimed, but the previous run of a unique job is still live (skipped)
local last = redis.call('HGET', KEYS[1], ARGV[1])
local tick = tonumber(ARGV[2])
if last and tonumber(last) >= tick then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], tick)
if ARGV[5] == 'catchup' and not last then
    return 0
end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 0 then
    return -1
end
redis.call('UNLINK', KEYS[4])
redis.call('XADD', KEYS[3], '*', 'i', ARGV[3])
return 1
