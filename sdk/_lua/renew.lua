-- Renew the leases a worker holds by resetting the idle time of its pending
-- entries, and report the ones it no longer owns (reclaimed by another worker
-- after a stall) so it can stop treating them as its own.  Ownership is checked
-- entry by entry: a blind XCLAIM would steal a task back from its new holder.
-- Also reports which held tasks have an abort pending, in case the worker
-- missed the message on the control channel (e.g. during a reconnect).
--
-- KEYS[1] aborting   KEYS[2 .. 1+S] the priority streams
-- ARGV[1] group   ARGV[2] consumer, then triples: stream index, entry_id, task_id
-- Returns {lost entry ids, task ids with an abort pending}
local group, consumer = ARGV[1], ARGV[2]
local mine, lost, aborting = {}, {}, {}
for i = 3, #ARGV, 3 do
    local index, entry_id = tonumber(ARGV[i]), ARGV[i + 1]
    local stream = KEYS[1 + index]
    local p = redis.call('XPENDING', stream, group, entry_id, entry_id, 1, consumer)
    if p[1] then
        mine[index] = mine[index] or {'XCLAIM', stream, group, consumer, 0}
        table.insert(mine[index], entry_id)
        if redis.call('HEXISTS', KEYS[1], ARGV[i + 2]) == 1 then
            aborting[#aborting + 1] = ARGV[i + 2]
        end
    else
        lost[#lost + 1] = entry_id
    end
end
for _, args in pairs(mine) do
    -- JUSTID resets the idle time without bumping the delivery counter
    args[#args + 1] = 'JUSTID'
    redis.call(unpack(args))
end
return {lost, aborting}
