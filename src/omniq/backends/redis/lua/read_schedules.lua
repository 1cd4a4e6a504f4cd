-- read_schedules (read-only): ARGV: mode ('all', 'due' with now and limit, or 'runs' with
-- a schedule id). Returns hashes: schedules oldest first, due ones earliest first, or the
-- tasks a schedule fired in enqueue order.
local mode = arg()
local out = {}
if mode == 'runs' then
  for _, id in ipairs(redis.call('LRANGE', runskey(arg()), 0, -1)) do
    local h = redis.call('HGETALL', tkey(id))
    if #h > 0 then out[#out + 1] = h end
  end
  return out
end
local ids
if mode == 'due' then
  local now, limit = arg(), argn()
  ids = redis.call('ZRANGEBYSCORE', K_SDUE, '-inf', now, 'LIMIT', 0, limit)
else
  ids = redis.call('ZRANGE', K_SALL, 0, -1)
end
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', skey(id))
  if #h > 0 then out[#out + 1] = h end
end
return out
