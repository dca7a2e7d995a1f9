-- Renew the leases a worker holds by resetting the idle time of its pending
-- entries, and report the ones it no longer owns (reclaimed by another worker
-- after a stall) so it can stop treating them as its own.  Ownership is checked
-- entry by entry: a blind XCLAIM would steal a task back from its new holder.
--
-- KEYS[1] stream
-- ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry ids
-- Returns the entry ids that are no longer ours.
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local mine, lost = {}, {}
for i = 3, #ARGV do
    local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1, consumer)
    if p[1] then
        mine[#mine + 1] = ARGV[i]
    else
        lost[#lost + 1] = ARGV[i]
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
return lost
