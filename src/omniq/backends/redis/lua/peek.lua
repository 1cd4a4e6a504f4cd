-- peek (read-only): the tasks a claim would take now, as flat hashes, in claim order.
-- ARGV: now, limit, queues.
local now, limit = arg(), argn()
local queues = read_list()
local out = {}
for _, id in ipairs(head(queues, now, limit)) do
  out[#out + 1] = redis.call('HGETALL', tkey(id))
end
return out
