-- retry_later: ARGV: id, worker, run_at, error JSON or '', events. Returns 1 if updated.
local id, worker, run_at, err = arg(), arg(), arg(), opt(arg())
local t = load(id)
if not t or t.s ~= 'executing' or t.w ~= worker or t.cr then return 0 end
redis.call('HINCRBY', t.k, 'rc', 1)
redis.call('HSET', t.k, 'ra', run_at)
if err then redis.call('HSET', t.k, 'er', err) else redis.call('HDEL', t.k, 'er') end
redis.call('HDEL', t.k, 'l')
t.ra = run_at
set_status(t, 'retrying')
append_events_from_args()
publish('t:' .. run_at)
return 1
