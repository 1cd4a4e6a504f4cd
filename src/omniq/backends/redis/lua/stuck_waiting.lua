-- stuck_waiting (read-only): ARGV: limit. Waiting tasks whose dependencies all completed,
-- or one of which failed, expired or was cancelled. Returns their hashes.
local limit = argn()
local out = {}
local never = {failed = true, expired = true, cancelled = true}
local start = 0
while #out < limit do
  local ids = redis.call('ZRANGE', K_WAIT, start, start + 499)
  if #ids == 0 then break end
  start = start + 500
  for _, id in ipairs(ids) do
    local t = load(id)
    if t and t.s == 'waiting' then
      local done, dead = true, false
      for _, dep in ipairs(cjson.decode(t.d or '[]')) do
        local s = redis.call('HGET', tkey(dep), 's')
        if s ~= 'completed' then done = false end
        if s and never[s] then dead = true end
      end
      if done or dead then
        out[#out + 1] = redis.call('HGETALL', t.k)
        if #out >= limit then break end
      end
    end
  end
end
return out
