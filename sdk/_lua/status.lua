-- Read where a task is, atomically.
--
-- KEYS[1] tasks   KEYS[2] tries   KEYS[3] running   KEYS[4] delayed   KEYS[5] result key
-- ARGV[1] task id
-- Returns {state, payload, tries, due_ms, holder}
--   state: 'done' | 'scheduled' | 'running' | 'queued' | 'missing'
local id = ARGV[1]
local payload = redis.call('HGET', KEYS[1], id)
if not payload then
    if redis.call('EXISTS', KEYS[5]) == 1 then
        return {'done', false, 0, -1, false}
    end
    return {'missing', false, 0, -1, false}
end
local tries = tonumber(redis.call('HGET', KEYS[2], id) or '0')
local due = redis.call('ZSCORE', KEYS[4], id)
if due then
    return {'scheduled', payload, tries, tonumber(due), false}
end
local holder = redis.call('HGET', KEYS[3], id)
if holder then
    return {'running', payload, tries, -1, holder}
end
return {'queued', payload, tries, -1, false}
