-- extend_leases: ARGV: worker, lease_until, ids. Returns the ids renewed.
local worker, lease = arg(), arg()
local out = {}
for _, id in ipairs(read_list()) do
  local t = load(id)
  if t and t.s == 'executing' and t.w == worker then
    redis.call('HSET', t.k, 'l', lease)
    redis.call('ZADD', K_LEASES, lease, id)
    out[#out + 1] = id
  end
end
return out
