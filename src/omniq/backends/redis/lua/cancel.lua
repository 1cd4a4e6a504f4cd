-- cancel: ARGV: id, now, error JSON. Returns the status before ('' if unknown).
local id, now, err = arg(), arg(), arg()
local t = load(id)
if not t then return '' end
local before = t.s
if before == 'waiting' or CLAIMABLE[before] then
  if before == 'waiting' then forget_dependent(t) end
  set_status(t, 'cancelled', now)
  redis.call('HSET', t.k, 'er', err)
  redis.call('HDEL', t.k, 'l')
  publish('r:' .. id)
elseif before == 'executing' then
  redis.call('HSET', t.k, 'cr', '1')
  redis.call('HINCRBY', t.k, 'v', 1)
  publish('c')
end
return before
