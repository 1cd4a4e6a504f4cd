-- claim: take the first due tasks for one worker.
-- ARGV: now, worker, lease_until, limit, queues, prepared ('0' or '1'), [events by task].
-- Without prepared events: takes up to `limit` and returns their hashes.
-- With them (the caller built each candidate's start events from a peek): takes the head
-- of the queues as long as each task is a prepared one at the version peeked, appends its
-- events, and returns {stale, ids}: stale is 1 when it met a task it had no events for.
local now, worker, lease, limit = arg(), arg(), arg(), argn()
local queues = read_list()
local prepared = arg() == '1'
local versions, events = {}, {}
if prepared then
  for _ = 1, argn() do
    local id = arg()
    versions[id] = arg()
  end
  events = read_grouped_events()
end
local out, stale = {}, 0
for _, id in ipairs(head(queues, now, limit)) do
  local t = load(id)
  if prepared and versions[id] ~= t.v then
    stale = 1
    break
  end
  set_status(t, 'executing')
  redis.call('HINCRBY', t.k, 'at', 1)
  redis.call('HSET', t.k, 'sa', now, 'w', worker, 'l', lease)
  redis.call('ZADD', K_LEASES, lease, id)
  if prepared then
    append_blobs(id, events[id])
    out[#out + 1] = id
  else
    out[#out + 1] = redis.call('HGETALL', t.k)
  end
end
if prepared then return {stale, out} end
return out
