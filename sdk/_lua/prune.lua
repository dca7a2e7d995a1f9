-- Remove consumer-group members that hold nothing: this worker's own (at exit,
-- mode 'own'), or members idle for over stale_ms (workers that were killed
-- without a clean exit).  Every worker process joins the group under its own
-- name, so without this the group would grow with every crash.  Looking and
-- deleting happen in one step, so a member that takes a delivery in between
-- cannot lose it (XGROUP DELCONSUMER drops a member's pending entries).
--
-- ARGV[1] consumer   ARGV[2] 'own' | 'stale'   ARGV[3] stale_ms   ARGV[4 ..] priority names
-- Returns the number of members removed.
local me, mode, stale = ARGV[1], ARGV[2], tonumber(ARGV[3])
local removed = 0
for i = 4, #ARGV do
    local stream = stream_key(ARGV[i])
    local ok, members = pcall(redis.call, 'XINFO', 'CONSUMERS', stream, GROUP)
    if ok then
        for _, member in ipairs(members) do
            local info = {}
            for j = 1, #member, 2 do
                info[member[j]] = member[j + 1]
            end
            if info['pending'] == 0 then
                local match
                if mode == 'own' then
                    match = info['name'] == me
                else
                    match = info['name'] ~= me and info['idle'] > stale
                end
                if match then
                    redis.call('XGROUP', 'DELCONSUMER', stream, GROUP, info['name'])
                    removed = removed + 1
                end
            end
        end
    end
end
return removed
