-- Read where a task is, atomically.
--
-- ARGV[1] task id
-- Returns {state, fn, enqueue_ms, tries, due_ms, holder, progress}
--   state: 'done' | 'scheduled' | 'running' | 'queued' | 'missing'; the other values
--   are false unless the task is live ('running' means a worker holds it)
local id = ARGV[1]
local t = redis.call('HMGET', task_key(id), F_FN, F_ENQUEUED, F_TRIES, F_HOLDER, F_PROGRESS)
if not t[1] then
    if redis.call('EXISTS', result_key(id)) == 1 then
        return {'done', false, false, false, false, false, false}
    end
    return {'missing', false, false, false, false, false, false}
end
local tries = tonumber(t[3] or '0')
local due = redis.call('ZSCORE', DELAYED, id)
if due then
    return {'scheduled', t[1], t[2], tries, tonumber(due), false, t[5]}
end
if t[4] and t[4] ~= '' then
    return {'running', t[1], t[2], tries, -1, t[4], t[5]}
end
return {'queued', t[1], t[2], tries, -1, false, t[5]}
