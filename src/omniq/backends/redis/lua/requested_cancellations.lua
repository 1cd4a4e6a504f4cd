-- requested_cancellations (read-only): ARGV: ids. The ids whose cancel_requested is set.
local out = {}
for _, id in ipairs(read_list()) do
  if redis.call('HGET', tkey(id), 'cr') then out[#out + 1] = id end
end
return out
