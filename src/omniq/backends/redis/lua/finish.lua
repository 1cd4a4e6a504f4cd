-- finish: ARGV: id, status, now, error JSON or '', worker or '', events. Returns 1 if updated.
local id, status, now, err, worker = arg(), arg(), arg(), opt(arg()), opt(arg())
local t = load(id)
if not t then return 0 end
if worker then
  if t.s ~= 'executing' or t.w ~= worker then return 0 end
  if t.cr and status ~= 'cancelled' then return 0 end
elseif FINAL[t.s] then
  return 0
end
if t.s == 'waiting' then forget_dependent(t) end
set_status(t, status, now)
redis.call('HDEL', t.k, 'l')
if err then redis.call('HSET', t.k, 'er', err) end
append_events_from_args()
publish('r:' .. id)
return 1
