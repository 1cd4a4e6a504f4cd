-- fire_schedule: ARGV: id, expected next_run_at, new next_run_at or '', new status, the
-- run's created_at (the schedule's last_run_at), the run's task, events. Fires only if the schedule is active with next_run_at exactly equal
-- to the expected double; enqueues the run and advances the schedule together.
local id, expected, next_run, status, fired_at = arg(), arg(), opt(arg()), arg(), arg()
local task = read_task()
local k = skey(id)
local f = redis.call('HMGET', k, 's', 'nx')
if f[1] ~= 'active' or not f[2] or tonumber(f[2]) ~= tonumber(expected) then return 0 end
check_new({task})
insert(task)
append_events_from_args()
redis.call('HSET', k, 's', status, 'lr', fired_at)
redis.call('HINCRBY', k, 'rc', 1)
if next_run then redis.call('HSET', k, 'nx', next_run) else redis.call('HDEL', k, 'nx') end
if status == 'active' and next_run then
  redis.call('ZADD', K_SDUE, next_run, id)
else
  redis.call('ZREM', K_SDUE, id)
end
if CLAIMABLE[task.s] then publish('t:' .. task.ra) end
return 1
