-- purge_tasks: ARGV: before, dry_run ('0'/'1'), statuses. Final tasks in the statuses that
-- finished before `before`, in enqueue order; deleted unless dry_run. Returns their ids.
local before, dry = arg(), arg() == '1'
local wanted = {}
for _, s in ipairs(read_list()) do wanted[s] = true end
local found = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_FIN, '-inf', '(' .. before)) do
  local t = load(id)
  if t and wanted[t.s] then
    found[#found + 1] = t
  elseif not t then
    redis.call('ZREM', K_FIN, id)
  end
end
table.sort(found, function(a, b) return a.n < b.n end)
local out = {}
for _, t in ipairs(found) do
  out[#out + 1] = t.id
  if not dry then
    forget_dependent(t)
    redis.call('DEL', t.k)
    redis.call('ZREM', K_ALL, t.id)
    redis.call('ZREM', K_FIN, t.id)
    redis.call('HINCRBY', nkey(t.q), t.s, -1)
  end
end
return out
