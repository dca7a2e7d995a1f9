-- Watch a task live: a client that wants its progress or its streamed items.
-- In one atomic step a live task gets the client as a viewer (its progress and
-- items are published to the client's inbox from now on) and on its routes (its
-- outcome too), and what it reported before comes back here: a late watcher, or
-- one that lost its connection for a while, misses nothing.
--
-- ARGV[1] client id   ARGV[2] task id   ARGV[3] items wanted after this entry id
--   ('' none, '-' from the start)   ARGV[4] most items returned
-- Returns {state, progress or false, tries, outcome or false, {id, data, ...}}
--   state 1 = live (viewer added), 2 = finished (the stored outcome), 0 = missing;
--   the items are the stream's entries after ARGV[3] (data '' for a restart mark)
local client, id, after = ARGV[1], ARGV[2], ARGV[3]
local key = task_key(id)
local state, progress, tries, outcome = 0, false, 0, false
local t = redis.call('HMGET', key, F_FN, F_PROGRESS, F_TRIES)
if t[1] then
    add_route(key, client)
    add_client(key, F_VIEWERS, client)
    state, progress, tries = 1, t[2], tonumber(t[3] or '0')
else
    outcome = redis.call('GET', result_key(id))
    if outcome then
        state = 2
    end
end
local flat = {}
if after ~= '' then
    local start = after == '-' and '-' or '(' .. after
    local entries = redis.call('XRANGE', items_key(id), start, '+', 'COUNT', ARGV[4])
    for _, e in ipairs(entries) do
        flat[#flat + 1] = e[1]
        flat[#flat + 1] = e[2][2]
    end
end
return {state, progress, tries, outcome, flat}
