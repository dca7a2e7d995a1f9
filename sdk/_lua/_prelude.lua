-- Shared by every script (prepended at load time, after the key and field names
-- that sdk/_keys.py and sdk/_envelope.py render).  One definition of each step
-- that more than one script takes.

-- Idle workers block on the streams and the wake stream; a poke makes them
-- fetch again and learn about a newly scheduled due time.
local function wake()
    redis.call('XADD', WAKE, 'MAXLEN', '~', 16, '*', 'w', '1')
end

-- Acknowledge a stream entry and drop it from the stream.
local function ack(stream, entry)
    redis.call('XACK', stream, GROUP, entry)
    redis.call('XDEL', stream, entry)
end

-- Put a task on its priority's stream as a new entry: the task's new generation.
-- Any delivery of an older entry is fenced out from here on.
local function push(key, id, priority)
    local entry = redis.call('XADD', stream_key(priority), '*', 'i', id)
    redis.call('HSET', key, F_ENTRY, entry, F_HOLDER, '')
    return entry
end

-- Add a client to a space-separated list field of a live task, once.
local function add_client(key, field, client)
    local clients = redis.call('HGET', key, field)
    if not clients or clients == '' then
        redis.call('HSET', key, field, client)
    elseif not string.find(' ' .. clients .. ' ', ' ' .. client .. ' ', 1, true) then
        redis.call('HSET', key, field, clients .. ' ' .. client)
    end
end

-- Add a client to the routes of a live task (it gets the outcome), once.
local function add_route(key, client)
    add_client(key, F_ROUTES, client)
end

-- Publish a message about task `id` to the inbox of every client in `clients`
-- (space-separated); `kind` '' is an outcome (the framing is sdk/_live.py's).
local function publish(clients, kind, id, body)
    if clients and clients ~= '' then
        local message = kind .. #id .. ':' .. id .. body
        for client in string.gmatch(clients, '%S+') do
            redis.call('PUBLISH', inbox_channel(client), message)
        end
    end
end

-- The one way an outcome leaves: stored for ttl ms (-1 forever, 0 not at all)
-- and published to the inbox of every client on the task's routes.
local function deliver(id, outcome, ttl, routes)
    if ttl > 0 then
        redis.call('SET', result_key(id), outcome, 'PX', ttl)
    elseif ttl < 0 then
        redis.call('SET', result_key(id), outcome)
    end
    publish(routes, '', id, outcome)
end

-- Create a live task from 9 consecutive ARGV values starting at b:
--   id, args, fn, enqueue_ms, signature ('' unsigned), due_ms (0 = now),
--   priority ('' = default), ttl_ms, route ('' = none)
-- `fresh`: the id is random, so no stale outcome can exist under it.
-- Returns true when the task was scheduled (the caller wakes the workers once).
local function create(b, fresh)
    local id = ARGV[b]
    local key = task_key(id)
    if not fresh then
        -- what an earlier task under this id left: its outcome, its streamed items
        redis.call('UNLINK', result_key(id), items_key(id))
    end
    local due, priority = tonumber(ARGV[b + 5]), ARGV[b + 6]
    local entry = ''
    if due > 0 then
        redis.call('ZADD', DELAYED, due, id)
    else
        entry = redis.call('XADD', stream_key(priority), '*', 'i', id)
    end
    local signature, ttl, route = ARGV[b + 4], ARGV[b + 7], ARGV[b + 8]
    -- the ttl is stored only when it is not the default (readers fall back to it)
    local own_ttl = tonumber(ttl) ~= DEFAULT_TTL_MS
    if signature == '' and priority == '' and not own_ttl then
        -- the usual shapes, without building a table (every enqueue takes this path)
        if route == '' then
            redis.call('HSET', key, F_ARGS, ARGV[b + 1], F_FN, ARGV[b + 2],
                F_ENQUEUED, ARGV[b + 3], F_ENTRY, entry)
        else
            redis.call('HSET', key, F_ARGS, ARGV[b + 1], F_FN, ARGV[b + 2],
                F_ENQUEUED, ARGV[b + 3], F_ENTRY, entry, F_ROUTES, route)
        end
        return due > 0
    end
    local fields = {'HSET', key, F_ARGS, ARGV[b + 1], F_FN, ARGV[b + 2], F_ENQUEUED, ARGV[b + 3],
        F_ENTRY, entry}
    if own_ttl then
        fields[#fields + 1] = F_TTL
        fields[#fields + 1] = ttl
    end
    if signature ~= '' then
        fields[#fields + 1] = F_SIGNATURE
        fields[#fields + 1] = signature
    end
    if priority ~= '' then
        fields[#fields + 1] = F_PRIORITY
        fields[#fields + 1] = priority
    end
    if route ~= '' then
        fields[#fields + 1] = F_ROUTES
        fields[#fields + 1] = route
    end
    redis.call(unpack(fields))
    return due > 0
end

-- Add an entry (a flat field/value list) of `size` bytes to the dead-letter
-- stream, keeping it under `cap` entries and `max_bytes` bytes of task data
-- (oldest go first); DEAD_BYTES counts what it holds.
local function bury(entry, size, cap, max_bytes)
    local command = {'XADD', DEAD, '*'}
    for i = 1, #entry do
        command[#command + 1] = entry[i]
    end
    command[#command + 1] = 'bytes'
    command[#command + 1] = size
    redis.call(unpack(command))
    local total = redis.call('INCRBY', DEAD_BYTES, size)
    while redis.call('XLEN', DEAD) > cap or total > max_bytes do
        local oldest = redis.call('XRANGE', DEAD, '-', '+', 'COUNT', 1)[1]
        if not oldest then
            break
        end
        local fields = oldest[2]
        for i = 1, #fields, 2 do
            if fields[i] == 'bytes' then
                total = redis.call('DECRBY', DEAD_BYTES, tonumber(fields[i + 1]))
            end
        end
        redis.call('XDEL', DEAD, oldest[1])
    end
    if redis.call('XLEN', DEAD) == 0 then
        redis.call('SET', DEAD_BYTES, 0)
    end
end

-- Copy a task to the dead-letter stream with the reason it could not be used.
local function dead_letter(key, id, reason, now, cap, max_bytes)
    local t = redis.call('HGETALL', key)
    local entry = {'id', id, 'reason', reason, 'at', now}
    local size = #id + #reason
    for i = 1, #t, 2 do
        local f = t[i]
        if f == F_ARGS or f == F_FN or f == F_ENQUEUED or f == F_SIGNATURE or f == F_TTL
                or f == F_PRIORITY or f == F_TRIES then
            entry[#entry + 1] = f
            entry[#entry + 1] = t[i + 1]
            size = size + #t[i + 1]
        end
    end
    bury(entry, size, cap, max_bytes)
end
