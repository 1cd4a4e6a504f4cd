-- release_dependents: ARGV: n ids of tasks that completed; mode ('peek', 'all' or 'given');
-- with 'given', grouped events (read_grouped_events). A waiting dependent whose every
-- dependency is completed becomes enqueued (keeping its run_at).
--   peek:  changes nothing; returns the ids that would be released.
--   all:   releases them all; returns their ids.
--   given: releases only those that have events here (the peeked ones), with their
--          events in this same script, so no claim can come before them. A dependent
--          that became ready since the peek is released by its own last dependency's call.
local ids = read_list()
local mode = arg()
local given = mode == 'given' and read_grouped_events() or nil
local out = {}
for _, id in ipairs(ids) do
  local dependents = redis.call('SMEMBERS', dkey(id))
  table.sort(dependents)
  for _, dependent in ipairs(dependents) do
    local t = load(dependent)
    if t and t.s == 'waiting' and (given == nil or given[dependent]) then
      local ready = true
      for _, dep in ipairs(cjson.decode(t.d or '[]')) do
        if redis.call('HGET', tkey(dep), 's') ~= 'completed' then
          ready = false
          break
        end
      end
      if ready then
        if mode ~= 'peek' then
          forget_dependent(t)
          set_status(t, 'enqueued')
          if given then append_blobs(dependent, given[dependent]) end
        end
        out[#out + 1] = dependent
      end
    end
  end
end
if mode ~= 'peek' and #out > 0 then publish('t') end
return out
