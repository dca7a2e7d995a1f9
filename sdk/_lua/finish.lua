-- Settle a batch of deliveries: store and publish outcomes, or schedule retries.
-- Fenced: a settlement is applied only when the try number it carries is still
-- the task's current one.  A worker whose lease lapsed and whose task was
-- reclaimed (the try count moved on) can neither overwrite the outcome nor
-- acknowledge the new holder's delivery.
--
-- KEYS[1] tasks   KEYS[2] tries   KEYS[3] running   KEYS[4] delayed   KEYS[5] wake
-- KEYS[6] aborting   KEYS[7] dead-letter stream   KEYS[8] prio hash
-- KEYS[9 .. 8+S] the priority streams; KEYS[8+S+i] result key of the i-th settlement
-- ARGV[1] group   ARGV[2] n   ARGV[3] dead-letter cap   ARGV[4] S
--   then per settlement 10 values:
--   stream index, entry_id, task_id, try, action, outcome, ttl_ms, channel, reason,
--   reply channel ('' = none: the sending client's inbox, see sdk/_wire.py)
--   action 'd' (done): store the outcome for ttl_ms (-1 = forever, 0 = not at all),
--                      publish it on channel, forget the task
--   action 'x' (dead): as 'd', and also copy the task to the dead-letter stream
--                      with `reason` (its input could not be used)
--   action 'r' (retry): outcome holds the due time in ms; the task goes back to
--                      the delayed set (or straight to its stream when due <= 0)
-- Returns array of n integers: 1 = applied, 0 = fenced out (not the current holder).
local tasks, tries, running, delayed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, n, dead_cap, s = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local scheduled = false
local applied = {}
for i = 1, n do
    local b = 5 + (i - 1) * 10
    local stream = KEYS[8 + tonumber(ARGV[b])]
    local entry_id, id, try, action = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
    if redis.call('HGET', tries, id) ~= try then
        applied[i] = 0
    else
        redis.call('XACK', stream, group, entry_id)
        redis.call('XDEL', stream, entry_id)
        redis.call('HDEL', running, id)
        if action == 'r' then
            local due = tonumber(ARGV[b + 5])
            if due > 0 then
                -- promotion finds the task's priority in the prio hash again
                redis.call('ZADD', delayed, due, id)
                scheduled = true
            else
                redis.call('XADD', stream, '*', 'i', id)
            end
        else
            local outcome, ttl = ARGV[b + 5], tonumber(ARGV[b + 6])
            if action == 'x' then
                redis.call('XADD', KEYS[7], 'MAXLEN', '~', dead_cap, '*', 'id', id,
                    'reason', ARGV[b + 8], 'payload', redis.call('HGET', tasks, id) or '')
            end
            redis.call('HDEL', tasks, id)
            redis.call('HDEL', tries, id)
            redis.call('HDEL', KEYS[6], id)
            redis.call('HDEL', KEYS[8], id)
            if ttl > 0 then
                redis.call('SET', KEYS[8 + s + i], outcome, 'PX', ttl)
            elseif ttl < 0 then
                redis.call('SET', KEYS[8 + s + i], outcome)
            end
            redis.call('PUBLISH', ARGV[b + 7], outcome)
            if ARGV[b + 9] ~= '' then
                redis.call('PUBLISH', ARGV[b + 9], #id .. ':' .. id .. outcome)
            end
        end
        applied[i] = 1
    end
end
if scheduled then
    -- idle workers block on the streams; this wakes them to learn the new due time
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', 16, '*', 'w', '1')
end
return applied
