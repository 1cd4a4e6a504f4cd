-- release: ARGV: worker, ids. Gives back tasks without counting the attempt.
local worker = arg()
local out = {}
for _, id in ipairs(read_list()) do
  local t = load(id)
  if t and t.s == 'executing' and t.w == worker then
    local attempts = math.max(tonumber(t.at or '0') - 1, 0)
    redis.call('HSET', t.k, 'at', attempts)
    redis.call('HDEL', t.k, 'w', 'l')
    set_status(t, 'enqueued')
    out[#out + 1] = id
  end
end
if #out > 0 then publish('t') end
return out
