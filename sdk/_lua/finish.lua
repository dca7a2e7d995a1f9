-- Settle a batch of deliveries: deliver outcomes, or schedule retries.
-- Fenced: a settlement applies only while its delivery is the task's current
-- one, i.e. the task hash still names its stream entry and its try.  A worker
-- whose lease lapsed and whose task was reclaimed (the try moved on), or whose
-- task was aborted and sent again (a new entry), can neither overwrite the
-- outcome nor acknowledge the new holder's delivery.
--
-- ARGV[1] n   ARGV[2] now_ms   ARGV[3] dead-letter cap (entries)
-- ARGV[4] dead-letter cap (bytes), then per settlement 8 values:
--   priority ('' = default), entry id, task id, try, action, data, ttl_ms, reason
--   action 'done':  data is the outcome: delivered (stored for ttl_ms: -1 forever,
--                   0 not at all, -2 the task's own `t` field) to every route;
--                   the task is forgotten
--   action 'dead':  as 'done', after copying the task to the dead-letter stream
--                   with `reason` (its input could not be used)
--   action 'retry': data is the due time in ms; the task goes back to the delayed
--                   set, or straight to its stream as a new entry when due <= 0
-- Returns an array of n integers: 1 = applied, 0 = fenced out.
local n, now = tonumber(ARGV[1]), ARGV[2]
local dead_cap, dead_bytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local scheduled = false
local applied = {}
for i = 1, n do
    local b = 5 + (i - 1) * 8
    local priority, entry, id, try, action = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
    local key = task_key(id)
    local t = redis.call('HMGET', key, F_ENTRY, F_TRIES, F_ROUTES, F_TTL)
    if t[1] ~= entry or t[2] ~= try then
        applied[i] = 0
    else
        ack(stream_key(priority), entry)
        if action == 'retry' then
            local due = tonumber(ARGV[b + 5])
            if due > 0 then
                redis.call('ZADD', DELAYED, due, id)
                redis.call('HSET', key, F_ENTRY, '', F_HOLDER, '')
                scheduled = true
            else
                push(key, id, priority)
            end
        else
            if action == 'dead' then
                dead_letter(key, id, ARGV[b + 7], now, dead_cap, dead_bytes)
            end
            redis.call('DEL', key)
            local ttl = tonumber(ARGV[b + 6])
            if ttl == -2 then
                ttl = tonumber(t[4]) or DEFAULT_TTL_MS
            end
            deliver(id, ARGV[b + 5], ttl, t[3])
        end
        applied[i] = 1
    end
end
if scheduled then
    wake()
end
return applied
