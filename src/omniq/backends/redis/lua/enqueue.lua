-- enqueue: tasks (all or none), their dependency records and events, and a wake-up.
-- ARGV: wake payload, n, n x task, events.
local wake = arg()
local tasks = {}
for i = 1, argn() do tasks[i] = read_task() end
check_new(tasks)
for _, t in ipairs(tasks) do insert(t) end
append_events_from_args()
if wake ~= '' then publish(wake) end
return #tasks
