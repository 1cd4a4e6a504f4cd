-- cancel_dependents: ARGV: id, error JSON, now. Cancels every waiting task below id in the
-- dependency graph, breadth first (nearest first; by id within one task's dependents).
local root, err, now = arg(), arg(), arg()
local seen = {[root] = true}
local pending = {root}
local head_i = 1
local out = {}
while head_i <= #pending do
  local current = pending[head_i]
  head_i = head_i + 1
  local dependents = redis.call('SMEMBERS', dkey(current))
  table.sort(dependents)
  for _, dependent in ipairs(dependents) do
    if not seen[dependent] then
      seen[dependent] = true
      pending[#pending + 1] = dependent
      local t = load(dependent)
      if t and t.s == 'waiting' then
        forget_dependent(t)
        set_status(t, 'cancelled', now)
        redis.call('HSET', t.k, 'er', err)
        out[#out + 1] = dependent
      end
    end
  end
end
for i = 1, #out, 150 do
  publish('r:' .. table.concat(out, ',', i, math.min(i + 149, #out)))
end
return out
