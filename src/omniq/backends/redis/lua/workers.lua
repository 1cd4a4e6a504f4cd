-- workers: ARGV: verb, then its arguments.
--   register id started_at record heartbeat_at | heartbeat id now | unregister id | list
local verb = arg()
if verb == 'register' then
  local id, started, record, heartbeat = arg(), arg(), arg(), arg()
  redis.call('HSET', wkey(id), 'r', record, 'hb', heartbeat)
  redis.call('ZADD', K_WORKERS, started, id)
  return 1
elseif verb == 'heartbeat' then
  local id, now = arg(), arg()
  if redis.call('EXISTS', wkey(id)) == 0 then return 0 end
  redis.call('HSET', wkey(id), 'hb', now)
  return 1
elseif verb == 'unregister' then
  local id = arg()
  redis.call('ZREM', K_WORKERS, id)
  return redis.call('DEL', wkey(id))
end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', K_WORKERS, 0, -1)) do
  local f = redis.call('HMGET', wkey(id), 'r', 'hb')
  if f[1] then out[#out + 1] = {f[1], f[2]} end
end
return out
