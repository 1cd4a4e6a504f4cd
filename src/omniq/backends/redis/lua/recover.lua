-- recover_expired_leases: ARGV: now, prepared ('0' or '1'), [ids, events by task].
-- Every executing task whose lease ended before now becomes enqueued again (with the
-- prepared events of that task); prepared: only the ids given, if still expired.
local now = arg()
local prepared = arg() == '1'
local ids, events
if prepared then
  ids = read_list()
  events = read_grouped_events()
else
  ids = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', '(' .. now)
  events = {}
end
local limit = tonumber(now)
local out = {}
for _, id in ipairs(ids) do
  local t = load(id)
  if t and t.s == 'executing' and t.l and tonumber(t.l) < limit then
    redis.call('HDEL', t.k, 'l')
    set_status(t, 'enqueued')
    append_blobs(id, events[id])
    out[#out + 1] = id
  elseif not t then
    redis.call('ZREM', K_LEASES, id)
  end
end
if #out > 0 then publish('t') end
return out
