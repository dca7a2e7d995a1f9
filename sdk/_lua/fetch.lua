-- Take up to `count` ready tasks for one consumer, in a single round trip:
--   1. move due delayed tasks to the stream (bounded by move_limit per call);
--   2. optionally reclaim entries whose lease lapsed (idle >= reclaim_ms), i.e.
--      whose worker died or stalled; XAUTOCLAIM makes them ours;
--   3. read new entries through the consumer group;
--   4. for every entry, load its payload and count the delivery as a try.  The
--      try number is the fencing token that finish.lua checks.  An entry whose
--      task is gone (aborted while queued) is acknowledged and dropped; a task
--      with an abort pending (its worker died while it was aborted) is flagged.
--
-- KEYS[1] tasks   KEYS[2] tries   KEYS[3] running   KEYS[4] delayed   KEYS[5] stream
-- KEYS[6] wake stream   KEYS[7] aborting
-- ARGV[1] group   ARGV[2] consumer   ARGV[3] count   ARGV[4] now_ms
-- ARGV[5] move_limit   ARGV[6] reclaim_ms (0 = do not reclaim)   ARGV[7] reclaim_count
-- Returns {entries, next_due_ms, last_entry_id, last_wake_id}
--   entries: flat array of (entry_id, task_id, payload, tries, abort_pending) quintuples
--   next_due_ms: due time of the earliest delayed task, or -1
--   last_entry_id, last_wake_id: when nothing was taken, the ids after which a
--     blocking XREAD on the stream and the wake stream waits for something new
local tasks, tries, running, delayed, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, consumer = ARGV[1], ARGV[2]
local count, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local move_limit, reclaim_ms = tonumber(ARGV[5]), tonumber(ARGV[6])

local due = redis.call('ZRANGE', delayed, '-inf', now, 'BYSCORE', 'LIMIT', 0, move_limit)
for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    redis.call('XADD', stream, '*', 'i', id)
end

local out = {}
local taken = 0
local function take(entry_id, fields)
    local id = fields[2]
    local payload = redis.call('HGET', tasks, id)
    if not payload then
        redis.call('XACK', stream, group, entry_id)
        redis.call('XDEL', stream, entry_id)
        return
    end
    local n = redis.call('HINCRBY', tries, id, 1)
    redis.call('HSET', running, id, consumer)
    out[#out + 1] = entry_id
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = n
    out[#out + 1] = redis.call('HEXISTS', KEYS[7], id)
    taken = taken + 1
end

if reclaim_ms > 0 then
    local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, reclaim_ms, '0-0',
        'COUNT', tonumber(ARGV[7]))
    for _, e in ipairs(claimed[2]) do
        take(e[1], e[2])
    end
end

if taken < count then
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - taken,
        'STREAMS', stream, '>')
    if read then
        for _, e in ipairs(read[1][2]) do
            take(e[1], e[2])
        end
    end
end

local next_due = -1
local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if first[2] then
    next_due = tonumber(first[2])
end
local last_id, last_wake = '', ''
if taken == 0 then
    local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
    last_id = last[1] and last[1][1] or '0-0'
    last = redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)
    last_wake = last[1] and last[1][1] or '0-0'
end
return {out, next_due, last_id, last_wake}
