-- Write what a running task reports live: a progress report, or a batch of the
-- items a streaming task yielded (formats: sdk/_live.py).  Fenced like a
-- settlement: it applies only while the delivery is the task's current one, so
-- a worker whose lease lapsed can never write into a later try.
--
-- ARGV[1] task id   ARGV[2] entry id   ARGV[3] try   ARGV[4] op
--   op 'p': ARGV[5] the progress report: kept on the task (the last one) and
--           published to its viewers
--   op 'i': ARGV[5] ms the items stream is kept after this write (-1 forever)
--           ARGV[6] most items kept   ARGV[7] seq of the first item; 0 marks a
--           restart: a new try drops what earlier tries yielded, writes the mark
--           <try>-0, and its items start at 1   ARGV[8] the message published to
--           the viewers, then the items
-- Returns 1 = written, 0 = fenced out (the delivery is no longer current)
local id = ARGV[1]
local key = task_key(id)
local t = redis.call('HMGET', key, F_ENTRY, F_TRIES, F_VIEWERS)
if t[1] ~= ARGV[2] or t[2] ~= ARGV[3] then
    return 0
end
if ARGV[4] == 'p' then
    redis.call('HSET', key, F_PROGRESS, ARGV[5])
    publish(t[3], 'p', id, ARGV[5])
    return 1
end
local items, try, seq, cap = items_key(id), ARGV[3], tonumber(ARGV[7]), ARGV[6]
if seq == 0 then
    redis.call('DEL', items)
    redis.call('XADD', items, try .. '-0', 'r', '')
    seq = 1
end
for i = 9, #ARGV do
    redis.call('XADD', items, 'MAXLEN', '~', cap, try .. '-' .. seq, 'd', ARGV[i])
    seq = seq + 1
end
local ttl = tonumber(ARGV[5])
if ttl > 0 then
    redis.call('PEXPIRE', items, ttl)
else
    redis.call('PERSIST', items)
end
publish(t[3], 'i', id, ARGV[8])
return 1
