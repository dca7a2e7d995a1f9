-- Start (or resume) waiting for the outcomes of tasks sent earlier: for each id,
-- a live task gets the client's route (its outcome will be published to the
-- client's inbox, which is subscribed already), a finished one returns its
-- stored outcome, and one that is neither is reported missing.  One atomic step
-- per task, so an outcome is either stored already or will be published to us.
--
-- ARGV[1] client id, then task ids
-- Returns per task id: the stored outcome, 1 = live (route added), 0 = missing
local client = ARGV[1]
local out = {}
for i = 2, #ARGV do
    local id = ARGV[i]
    local key = task_key(id)
    if redis.call('EXISTS', key) == 1 then
        add_route(key, client)
        out[i - 1] = 1
    else
        out[i - 1] = redis.call('GET', result_key(id)) or 0
    end
end
return out
