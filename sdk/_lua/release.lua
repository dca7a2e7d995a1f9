-- Hand deliveries a worker took but never started back to the queue at once
-- (graceful shutdown), instead of leaving them to lapse.  The unused try is
-- given back.  Only entries this consumer still owns are released.
--
-- KEYS[1] tries   KEYS[2] running   KEYS[3 .. 2+S] the priority streams
-- ARGV[1] group   ARGV[2] consumer, then triples: stream index, entry_id, task_id
-- Returns the number of tasks handed back.
local tries, running = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local released = 0
for i = 3, #ARGV, 3 do
    local stream, entry_id, id = KEYS[2 + tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]
    local p = redis.call('XPENDING', stream, group, entry_id, entry_id, 1, consumer)
    if p[1] then
        redis.call('XACK', stream, group, entry_id)
        redis.call('XDEL', stream, entry_id)
        redis.call('HDEL', running, id)
        if redis.call('HINCRBY', tries, id, -1) <= 0 then
            redis.call('HDEL', tries, id)
        end
        redis.call('XADD', stream, '*', 'i', id)
        released = released + 1
    end
end
return released
