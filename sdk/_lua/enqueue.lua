-- Enqueue a batch of tasks atomically.  Idempotent per task id: an id that is
-- already live (queued, scheduled or running) is left alone, which is how
-- `unique=True` and explicit idempotency keys return the live task.
--
-- KEYS[1] tasks   KEYS[2] delayed   KEYS[3] wake stream   KEYS[4] prio hash
-- KEYS[5 .. 4+S] the priority streams; KEYS[4+S+i] result key of the i-th task
--   (a stale outcome of a reused id is dropped)
-- ARGV[1] number of tasks n   ARGV[2] number of streams S
--   then per task: id, payload, due_ms (0 = ready now), stream index (1-based),
--   priority name ('' for the default priority; others are remembered in the prio
--   hash so that a scheduled or retried task returns to its own stream)
-- Returns array of n integers: 1 = created, 0 = an id that was already live.
local tasks, delayed, wake, prio = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n, s = tonumber(ARGV[1]), tonumber(ARGV[2])
local scheduled = false
local created = {}
for i = 1, n do
    local b = 3 + (i - 1) * 5
    local id, payload, due = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
    if redis.call('HSETNX', tasks, id, payload) == 1 then
        redis.call('UNLINK', KEYS[4 + s + i])
        if ARGV[b + 4] ~= '' then
            redis.call('HSET', prio, id, ARGV[b + 4])
        end
        if due > 0 then
            redis.call('ZADD', delayed, due, id)
            scheduled = true
        else
            redis.call('XADD', KEYS[4 + tonumber(ARGV[b + 3])], '*', 'i', id)
        end
        created[i] = 1
    else
        created[i] = 0
    end
end
if scheduled then
    -- idle workers block on the streams; this wakes them to learn the new due time
    redis.call('XADD', wake, 'MAXLEN', '~', 16, '*', 'w', '1')
end
return created
