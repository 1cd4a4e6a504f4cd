-- results: ARGV: verb, then its arguments.
--   put n x result | delete ids | purge now | count now
local verb = arg()
if verb == 'put' then
  for _ = 1, argn() do
    local r = read_result()
    put_result(r.id, r.p, r.c, r.x, r.a, r.ttl)
  end
  return 1
elseif verb == 'delete' then
  local n = 0
  for _, id in ipairs(read_list()) do
    n = n + redis.call('DEL', rkey(id))
    redis.call('ZREM', K_REXP, id)
  end
  return n
end
-- purge or count: results whose expires_at is before now (Redis's TTL may have dropped
-- some already: those are only removed from the index, never counted).
local now = arg()
local limit = tonumber(now)
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_REXP, '-inf', '(' .. now)) do
  local x = redis.call('HGET', rkey(id), 'x')
  if x and tonumber(x) < limit then
    n = n + 1
    if verb == 'purge' then redis.call('DEL', rkey(id)) end
  end
  if verb == 'purge' and (not x or tonumber(x) < limit) then redis.call('ZREM', K_REXP, id) end
end
return n
