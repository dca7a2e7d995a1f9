-- Take up to `count` ready tasks for one consumer, in a single round trip:
--   1. move due scheduled tasks to their priority's stream (at most move_limit);
--   2. optionally reclaim entries whose lease lapsed (idle >= reclaim_ms), i.e.
--      whose worker died or stalled; XAUTOCLAIM makes them ours;
--   3. read new entries through the consumer group, highest priority first;
--   4. for every entry, load its payload and count the delivery as a try.  The
--      try number is the fencing token that finish.lua checks.  An entry whose
--      task is gone (aborted while queued) is acknowledged and dropped; a task
--      with an abort pending (its worker died while it was aborted) is flagged.
--
-- KEYS[1] tasks   KEYS[2] tries   KEYS[3] running   KEYS[4] delayed   KEYS[5] wake
-- KEYS[6] aborting   KEYS[7] prio hash   KEYS[8 .. 7+S] streams, highest priority first
-- ARGV[1] group   ARGV[2] consumer   ARGV[3] count   ARGV[4] now_ms   ARGV[5] move_limit
-- ARGV[6] reclaim_ms (0 = do not reclaim)   ARGV[7] reclaim_count
-- ARGV[8] index of the default priority's stream   ARGV[9 .. 8+S] priority names
-- Returns {entries, next_due_ms, last_ids}
--   entries: flat array of (stream index, entry_id, task_id, payload, tries,
--            abort_pending) sextuples
--   next_due_ms: due time of the earliest scheduled task, or -1
--   last_ids: when nothing was taken, the ids after which a blocking XREAD of the
--            S streams and the wake stream (in that order) waits for something new
local tasks, tries, running, delayed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer = ARGV[1], ARGV[2]
local count, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local move_limit, reclaim_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local default_index = tonumber(ARGV[8])
local s = #KEYS - 7
local index_of = {}
for i = 1, s do
    index_of[ARGV[8 + i]] = i
end

local due = redis.call('ZRANGE', delayed, '-inf', now, 'BYSCORE', 'LIMIT', 0, move_limit)
for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local name = redis.call('HGET', KEYS[7], id)
    local index = (name and index_of[name]) or default_index
    redis.call('XADD', KEYS[7 + index], '*', 'i', id)
end

local out = {}
local taken = 0
local function take(index, entry_id, fields)
    local stream = KEYS[7 + index]
    local id = fields[2]
    local payload = redis.call('HGET', tasks, id)
    if not payload then
        redis.call('XACK', stream, group, entry_id)
        redis.call('XDEL', stream, entry_id)
        return
    end
    local n = redis.call('HINCRBY', tries, id, 1)
    redis.call('HSET', running, id, consumer)
    out[#out + 1] = index
    out[#out + 1] = entry_id
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = n
    out[#out + 1] = redis.call('HEXISTS', KEYS[6], id)
    taken = taken + 1
end

if reclaim_ms > 0 then
    for index = 1, s do
        local claimed = redis.call('XAUTOCLAIM', KEYS[7 + index], group, consumer, reclaim_ms,
            '0-0', 'COUNT', tonumber(ARGV[7]))
        for _, e in ipairs(claimed[2]) do
            take(index, e[1], e[2])
        end
    end
end

for index = 1, s do
    if taken >= count then
        break
    end
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - taken,
        'STREAMS', KEYS[7 + index], '>')
    if read then
        for _, e in ipairs(read[1][2]) do
            take(index, e[1], e[2])
        end
    end
end

local next_due = -1
local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if first[2] then
    next_due = tonumber(first[2])
end
local last_ids = {}
local function last_id(key)
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    return last[1] and last[1][1] or '0-0'
end
if taken == 0 then
    for index = 1, s do
        last_ids[index] = last_id(KEYS[7 + index])
    end
    last_ids[s + 1] = last_id(KEYS[5])
end
return {out, next_due, last_ids}
