-- Enqueue a batch of tasks atomically.  Idempotent per task id: an id that is
-- already live (queued, scheduled or running) is left alone, and the caller's
-- route is added to it, which is how `unique=True` and explicit idempotency keys
-- hand every caller the outcome of the one live task.
--
-- ARGV[1] n, then per task 10 values: id, args, fn, enqueue_ms, signature
--   ('' unsigned), due_ms (0 = now), priority ('' = default), ttl_ms,
--   route ('' = none), fresh ('1': a random id, no stale outcome to drop)
-- Returns an array of n integers: 1 = created, 0 = the id was live already.
local n = tonumber(ARGV[1])
local created = {}
local scheduled = false
for i = 1, n do
    local b = 2 + (i - 1) * 10
    local key = task_key(ARGV[b])
    if redis.call('EXISTS', key) == 1 then
        if ARGV[b + 8] ~= '' then
            add_route(key, ARGV[b + 8])
        end
        created[i] = 0
    else
        if create(b, ARGV[b + 9] == '1') then
            scheduled = true
        end
        created[i] = 1
    end
end
if scheduled then
    wake()
end
return created
