-- requeue: ARGV: id, now, expected status ('' for any), expected version, events.
-- A failed or expired task (still in the status and version the caller peeked, when
-- given) becomes enqueued, due at now, with its counters reset. Returns {before, done}.
local id, now, expected, version = arg(), arg(), opt(arg()), opt(arg())
local t = load(id)
if not t then return {'', 0} end
if (t.s ~= 'failed' and t.s ~= 'expired')
    or (expected and (t.s ~= expected or t.v ~= version)) then
  return {t.s, 0}
end
local before = t.s
redis.call('HSET', t.k, 'ra', now, 'rc', 0, 'at', 0)
redis.call('HDEL', t.k, 'er', 'sa', 'fa', 'xa', 'w', 'l', 'cr')
t.ra = now
set_status(t, 'enqueued')
append_events_from_args()
publish('t')
return {before, 1}
