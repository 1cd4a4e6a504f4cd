-- complete_many: ARGV: worker, now, n, n x (id, events, has_result, [result]).
-- Only tasks executing under this worker without a cancel request are completed; their
-- events and results are written with the status, the others' are dropped.
local worker, now = arg(), arg()
local done = {}
for _ = 1, argn() do
  local id = arg()
  local blobs = {}
  for i = 1, argn() do blobs[i] = arg() end
  local result = nil
  if arg() == '1' then result = read_result() end
  local t = load(id)
  if t and t.s == 'executing' and t.w == worker and not t.cr then
    set_status(t, 'completed', now)
    redis.call('HDEL', t.k, 'l')
    append_blobs(id, blobs)
    if result then put_result(id, result.p, result.c, result.x, result.a, result.ttl) end
    done[#done + 1] = id
  end
end
for i = 1, #done, 150 do
  publish('r:' .. table.concat(done, ',', i, math.min(i + 149, #done)))
end
return done
