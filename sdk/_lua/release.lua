-- Hand deliveries back to the queue at once (graceful shutdown) instead of
-- leaving them to lapse.  Each goes back as a new stream entry (a new
-- generation, so the old token can never match again).  A delivery that never
-- started gives its try back; one that started (cancelled at the end of the
-- grace period) keeps it, so a task that always outlasts the grace period still
-- reaches max_tries.  Only deliveries that are still current are released.
--
-- ARGV per delivery 5 values: priority, entry id, task id, try, started ('1'/'0')
-- Returns the number of tasks handed back.
local released = 0
for b = 1, #ARGV, 5 do
    local priority, entry, id, try = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
    local key = task_key(id)
    local t = redis.call('HMGET', key, F_ENTRY, F_TRIES)
    if t[1] == entry and t[2] == try then
        ack(stream_key(priority), entry)
        if ARGV[b + 4] == '0' then
            redis.call('HSET', key, F_TRIES, tonumber(try) - 1)
        end
        push(key, id, priority)
        released = released + 1
    end
end
return released
