-- Renew the leases a worker holds: reset the idle time of every delivery that is
-- still the task's current one (the task hash names its entry and its try), and
-- report the ones that are not (reclaimed by another worker after a stall, or
-- superseded) so the worker stops treating them as its own.  Checking the
-- fencing token first is what makes the XCLAIM safe: a delivery whose token
-- still holds was never claimed by anyone else.  Also reports which held tasks
-- have an abort pending, in case the worker missed the control message.
--
-- ARGV[1] consumer, then per delivery 4 values: priority, entry id, task id, try
-- Returns {indexes of lost deliveries (1-based), indexes with an abort pending}
local consumer = ARGV[1]
local mine, lost, aborting = {}, {}, {}
local i = 0
for b = 2, #ARGV, 4 do
    i = i + 1
    local priority, entry = ARGV[b], ARGV[b + 1]
    local t = redis.call('HMGET', task_key(ARGV[b + 2]), F_ENTRY, F_TRIES, F_ABORT)
    if t[1] ~= entry or t[2] ~= ARGV[b + 3] then
        lost[#lost + 1] = i
    else
        local stream = stream_key(priority)
        mine[stream] = mine[stream] or {'XCLAIM', stream, GROUP, consumer, 0}
        table.insert(mine[stream], entry)
        if t[3] then
            aborting[#aborting + 1] = i
        end
    end
end
for _, args in pairs(mine) do
    -- JUSTID resets the idle time without bumping the delivery counter
    args[#args + 1] = 'JUSTID'
    redis.call(unpack(args))
end
return {lost, aborting}
