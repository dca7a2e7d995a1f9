-- Enqueue a batch of tasks atomically.  Idempotent per task id: an id that is
-- already live (queued, scheduled or running) is left alone, which is how
-- `unique=True` and explicit idempotency keys return the live task.
--
-- KEYS[1]  tasks hash   KEYS[2]  delayed zset   KEYS[3]  stream   KEYS[4]  wake stream
-- KEYS[4+i] result key of the i-th task (a stale outcome of a reused id is dropped)
-- ARGV[1]  number of tasks n, then for each task: id, payload, due_ms (0 = ready now)
-- Returns  array of n integers: 1 = created, 0 = an id that was already live.
local tasks, delayed, stream, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local scheduled = false
local n = tonumber(ARGV[1])
local created = {}
for i = 1, n do
    local base = 2 + (i - 1) * 3
    local id, payload, due = ARGV[base], ARGV[base + 1], tonumber(ARGV[base + 2])
    if redis.call('HSETNX', tasks, id, payload) == 1 then
        redis.call('UNLINK', KEYS[4 + i])
        if due > 0 then
            redis.call('ZADD', delayed, due, id)
            scheduled = true
        else
            redis.call('XADD', stream, '*', 'i', id)
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
