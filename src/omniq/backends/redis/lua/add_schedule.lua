-- add_schedule: ARGV: id, status, next_run_at or '', created_at, n, n x (field, value).
local id, status, next_run, created = arg(), arg(), opt(arg()), arg()
local fields = {}
for i = 1, 2 * argn() do fields[i] = arg() end
local k = skey(id)
if redis.call('EXISTS', k) == 1 then fail('a schedule with id ' .. id .. ' already exists') end
redis.call('HSET', k, unpack(fields))
redis.call('ZADD', K_SALL, created, id)
if status == 'active' and next_run then
  redis.call('ZADD', K_SDUE, next_run, id)
  publish('s:' .. next_run)
else
  publish('s')
end
return 1
