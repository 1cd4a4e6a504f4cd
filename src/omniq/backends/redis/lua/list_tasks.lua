-- list_tasks (read-only): ARGV: limit, queue or '', statuses. Newest first.
local limit, queue = argn(), opt(arg())
local wanted = nil
local statuses = read_list()
if #statuses > 0 then
  wanted = {}
  for _, s in ipairs(statuses) do wanted[s] = true end
end
local out = {}
local start = 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', K_ALL, start, start + 499)
  if #ids == 0 then break end
  start = start + 500
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', tkey(id), 's', 'q')
    if f[1] and (not wanted or wanted[f[1]]) and (not queue or f[2] == queue) then
      out[#out + 1] = redis.call('HGETALL', tkey(id))
      if #out >= limit then break end
    end
  end
end
return out
