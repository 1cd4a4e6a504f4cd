-- events: ARGV: verb, then its arguments.
--   append events | for_task id | delete ids
local verb = arg()
if verb == 'append' then
  append_events_from_args()
  return 1
elseif verb == 'for_task' then
  local out = {}
  for _, sid in ipairs(redis.call('LRANGE', ekey(arg()), 0, -1)) do
    local entry = redis.call('XRANGE', K_LOG, sid, sid)
    if #entry > 0 then out[#out + 1] = entry[1][2][4] end
  end
  return out
end
local n = 0
for _, id in ipairs(read_list()) do
  local sids = redis.call('LRANGE', ekey(id), 0, -1)
  for i = 1, #sids, 500 do
    redis.call('XDEL', K_LOG, unpack(sids, i, math.min(i + 499, #sids)))
  end
  n = n + #sids
  redis.call('DEL', ekey(id))
end
return n
