-- set_schedule_status: ARGV: id, status, next_run_at or '', from statuses. Returns 1 if set.
local id, status, next_run = arg(), arg(), opt(arg())
local k = skey(id)
local current = redis.call('HGET', k, 's')
if not current then return 0 end
local allowed = false
for _, s in ipairs(read_list()) do
  if s == current then allowed = true end
end
if not allowed then return 0 end
redis.call('HSET', k, 's', status)
if next_run then redis.call('HSET', k, 'nx', next_run) else redis.call('HDEL', k, 'nx') end
if status == 'active' and next_run then
  redis.call('ZADD', K_SDUE, next_run, id)
else
  redis.call('ZREM', K_SDUE, id)
end
if status == 'active' then
  if next_run then publish('s:' .. next_run) else publish('s') end
end
return 1
