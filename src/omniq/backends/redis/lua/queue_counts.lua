-- queue_counts (read-only): ARGV: now. Per queue: name, flat status counts, due, delayed,
-- the run_at of the oldest due task ('' if none).
local now = arg()
local out = {}
local queues = redis.call('SMEMBERS', K_QUEUES)
table.sort(queues)
for _, q in ipairs(queues) do
  local counts = redis.call('HGETALL', nkey(q))
  local due, delayed, oldest = 0, 0, ''
  local oldest_n = nil
  for _, p in ipairs(redis.call('ZRANGE', pkey(q), 0, -1)) do
    local ck = ckey(q, p)
    due = due + redis.call('ZCOUNT', ck, '-inf', now)
    delayed = delayed + redis.call('ZCOUNT', ck, '(' .. now, '+inf')
    local first = redis.call('ZRANGEBYSCORE', ck, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
    if #first > 0 then
      local member = first[1]
      local ra = redis.call('HGET', tkey(string.sub(member, 16)), 'ra')
      if ra and (not oldest_n or tonumber(ra) < oldest_n) then
        oldest, oldest_n = ra, tonumber(ra)
      end
    end
  end
  out[#out + 1] = {q, counts, due, delayed, oldest}
end
return out
