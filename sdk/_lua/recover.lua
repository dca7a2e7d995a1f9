-- At worker start: hand back what an earlier process under the same consumer
-- name left in its pending list (it was killed; this process holds nothing
-- yet).  fetch.lua never reclaims a consumer's own entries, so without this a
-- worker restarted under a fixed name would never see them again.  The tries
-- they used stay counted, as for any delivery whose worker died.
--
-- ARGV[1] consumer   ARGV[2] how many entries per stream at most   ARGV[3 ..] priority names
-- Returns the number of tasks handed back.
local me, limit = ARGV[1], tonumber(ARGV[2])
local recovered = 0
for i = 3, #ARGV do
    local priority = ARGV[i]
    local stream = stream_key(priority)
    local pending = redis.call('XPENDING', stream, GROUP, '-', '+', limit, me)
    for _, p in ipairs(pending) do
        local entry = p[1]
        local e = redis.call('XRANGE', stream, entry, entry)[1]
        local id = e and e[2][1] == 'i' and e[2][2]
        local key = id and task_key(id)
        ack(stream, entry)
        if key and redis.call('HGET', key, F_ENTRY) == entry then
            push(key, id, priority)
            recovered = recovered + 1
        end
    end
end
return recovered
