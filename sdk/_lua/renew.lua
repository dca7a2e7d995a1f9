-- Renew the leases a worker holds by resetting the idle time of its pending
-- entries, and report the ones it no longer owns (reclaimed by another worker
-- after a stall) so it can stop treating them as its own.  Ownership is checked
-- entry by entry: a blind XCLAIM would steal a task back from its new holder.
-- Also reports which held tasks have an abort pending, in case the worker
-- missed the message on the control channel (e.g. during a reconnect).
--
-- KEYS[1] stream   KEYS[2] aborting
-- ARGV[1] group   ARGV[2] consumer, then pairs: entry_id, task_id
-- Returns {lost entry ids, task ids with an abort pending}
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local mine, lost, aborting = {}, {}, {}
for i = 3, #ARGV, 2 do
    local entry_id = ARGV[i]
    local p = redis.call('XPENDING', stream, group, entry_id, entry_id, 1, consumer)
    if p[1] then
        mine[#mine + 1] = entry_id
        if redis.call('HEXISTS', KEYS[2], ARGV[i + 1]) == 1 then
            aborting[#aborting + 1] = ARGV[i + 1]
        end
    else
        lost[#lost + 1] = entry_id
    end
end
if #mine > 0 then
    -- JUSTID resets the idle time without bumping the delivery counter
    local args = {'XCLAIM', stream, group, consumer, 0}
    for _, entry_id in ipairs(mine) do
        args[#args + 1] = entry_id
    end
    args[#args + 1] = 'JUSTID'
    redis.call(unpack(args))
end
return {lost, aborting}
