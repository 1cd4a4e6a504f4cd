-- Shared by every script of the Redis backend (prepended to each one by scripts.py).
--
-- KEYS[1] is the project's prefix, "{omniq:<project>}": every key a script touches starts
-- with it, so all of a project's keys share one hash tag (one Cluster slot) and the script
-- is routed to the node that holds them. ARGV is a flat list read in order with arg().
--
-- Times travel and are stored as the shortest repr of the caller's double ("0.3" or
-- "0.30000000000000004"): Redis and Lua parse them with strtod, which is exact, so
-- tonumber() comparisons and sorted-set scores compare the very doubles Python gave.
-- A time is never formatted by Lua (tostring would round it to 14 digits).

local P = KEYS[1]
local A = 0
local function arg() A = A + 1; return ARGV[A] end
local function argn() return tonumber(arg()) end
local function opt(v) if v == '' then return nil end; return v end
local function fail(message) error({err = 'OMNIQ ' .. message}) end

local K_SEQ = P .. ':seq'          -- counter: enqueue order
local K_ALL = P .. ':all'          -- zset id -> enqueue order (listing, newest first)
local K_FIN = P .. ':fin'          -- zset id -> finished_at of final tasks (purge)
local K_LEASES = P .. ':leases'    -- zset id -> lease_expires_at of executing tasks
local K_WAIT = P .. ':wait'        -- zset id -> enqueue order of waiting tasks
local K_QUEUES = P .. ':queues'    -- set of queue names ever used
local K_LOG = P .. ':log'          -- stream: the event log, in commit order
local K_REXP = P .. ':rexp'        -- zset task id -> expires_at of results that expire
local K_SALL = P .. ':sall'         -- zset schedule id -> created_at
local K_SDUE = P .. ':sdue'        -- zset schedule id -> next_run_at of active schedules
local K_WORKERS = P .. ':workers'  -- zset worker id -> started_at
local CHANNEL = P .. ':wake'       -- pub/sub channel of wake-ups

local function tkey(id) return P .. ':t:' .. id end            -- hash: one task
local function ckey(q, p) return P .. ':c:' .. p .. ':' .. q end -- zset: claimable, by run_at
local function pkey(q) return P .. ':cp:' .. q end             -- zset: claimable priorities
local function nkey(q) return P .. ':n:' .. q end              -- hash: status -> count
local function dkey(id) return P .. ':dn:' .. id end           -- set: waiting dependents of id
local function ekey(id) return P .. ':e:' .. id end            -- list: stream ids of a task
local function rkey(id) return P .. ':r:' .. id end            -- hash: one result
local function skey(id) return P .. ':s:' .. id end            -- hash: one schedule
local function runskey(id) return P .. ':runs:' .. id end      -- list: run ids of a schedule
local function wkey(id) return P .. ':w:' .. id end            -- hash: one worker

local CLAIMABLE = {enqueued = true, retrying = true}
local FINAL = {completed = true, failed = true, expired = true, cancelled = true}

-- The fields the transitions read, or nil for an unknown task.
local function load(id)
  local k = tkey(id)
  local f = redis.call('HMGET', k, 's', 'q', 'p', 'n', 'ra', 'w', 'cr', 'v', 'l', 'at', 'd')
  if not f[1] then return nil end
  return {id = id, k = k, s = f[1], q = f[2], p = f[3], n = f[4], ra = f[5], w = f[6],
          cr = f[7], v = f[8], l = f[9], at = f[10], d = f[11]}
end

-- Claimable tasks: one zset per (queue, priority), scored by run_at; the member starts with
-- the 15-digit enqueue number, so equal run_at values keep enqueue order.
local function index(t)
  redis.call('ZADD', ckey(t.q, t.p), t.ra, t.n .. t.id)
  redis.call('ZADD', pkey(t.q), t.p, t.p)
end

local function unindex(t)
  local ck = ckey(t.q, t.p)
  redis.call('ZREM', ck, t.n .. t.id)
  if redis.call('EXISTS', ck) == 0 then redis.call('ZREM', pkey(t.q), t.p) end
end

-- Move task t to status `new`, keeping every index and count in step (t.ra must be the
-- task's run_at when `new` is claimable; `fa` is finished_at for a final status).
local function set_status(t, new, fa)
  local old = t.s
  if CLAIMABLE[old] then unindex(t) end
  if old == 'executing' then redis.call('ZREM', K_LEASES, t.id) end
  if old == 'waiting' then redis.call('ZREM', K_WAIT, t.id) end
  if FINAL[old] then redis.call('ZREM', K_FIN, t.id) end
  redis.call('HSET', t.k, 's', new)
  redis.call('HINCRBY', t.k, 'v', 1)
  local nk = nkey(t.q)
  redis.call('HINCRBY', nk, old, -1)
  redis.call('HINCRBY', nk, new, 1)
  t.s = new
  if CLAIMABLE[new] then index(t) end
  if FINAL[new] and fa then
    redis.call('HSET', t.k, 'fa', fa)
    redis.call('ZADD', K_FIN, fa, t.id)
  end
end

-- A waiting task leaves the dependents index of each of its dependencies.
local function forget_dependent(t)
  if t.d then
    for _, dep in ipairs(cjson.decode(t.d)) do redis.call('SREM', dkey(dep), t.id) end
  end
end

-- Events: the stream entry holds the event; the task's list holds the entry ids.
local function append_event(task_id, blob)
  local sid = redis.call('XADD', K_LOG, '*', 't', task_id, 'e', blob)
  redis.call('RPUSH', ekey(task_id), sid)
end

local function append_events_from_args()
  for _ = 1, argn() do append_event(arg(), arg()) end
end

-- Events grouped by task: n, then n x (task id, count, count x blob).
local function read_grouped_events()
  local by_task = {}
  for _ = 1, argn() do
    local id, blobs = arg(), {}
    for i = 1, argn() do blobs[i] = arg() end
    by_task[id] = blobs
  end
  return by_task
end

local function append_blobs(task_id, blobs)
  if blobs then
    for _, blob in ipairs(blobs) do append_event(task_id, blob) end
  end
end

local function publish(payload) redis.call('PUBLISH', CHANNEL, payload) end

-- Results: replaced only by one of the same or a later attempt. A result that expires gets
-- Redis's own TTL (its lifetime plus a grace, computed by the caller) and an entry in the
-- expiry index for purge_expired.
local function put_result(id, payload, created, expires, attempt, ttl_ms)
  local rk = rkey(id)
  local current = redis.call('HGET', rk, 'a')
  if current and tonumber(current) > tonumber(attempt) then return end
  redis.call('DEL', rk)
  redis.call('HSET', rk, 'p', payload, 'c', created, 'a', attempt)
  if expires then
    redis.call('HSET', rk, 'x', expires)
    redis.call('PEXPIRE', rk, ttl_ms)
    redis.call('ZADD', K_REXP, expires, id)
  else
    redis.call('ZREM', K_REXP, id)
  end
end

-- One result from the args: id, payload, created_at, expires_at or '', attempt, ttl_ms.
local function read_result()
  return {id = arg(), p = arg(), c = arg(), x = opt(arg()), a = arg(), ttl = arg()}
end

-- A new task from the args: its header, then its hash fields.
local function read_task()
  local t = {id = arg(), q = arg(), p = arg(), s = arg(), ra = arg(), fa = opt(arg()),
             l = opt(arg()), d = opt(arg()), sc = opt(arg())}
  local fields = {}
  for i = 1, 2 * argn() do fields[i] = arg() end
  t.fields = fields
  return t
end

local function check_new(tasks)
  local seen = {}
  for _, t in ipairs(tasks) do
    if seen[t.id] or redis.call('EXISTS', tkey(t.id)) == 1 then
      fail('a task with id ' .. t.id .. ' already exists')
    end
    seen[t.id] = true
  end
end

local function insert(t)
  t.k = tkey(t.id)
  t.n = string.format('%015d', redis.call('INCR', K_SEQ))
  redis.call('HSET', t.k, 'n', t.n, 'v', 0, unpack(t.fields))
  redis.call('ZADD', K_ALL, t.n, t.id)
  redis.call('SADD', K_QUEUES, t.q)
  redis.call('HINCRBY', nkey(t.q), t.s, 1)
  if CLAIMABLE[t.s] then
    index(t)
  elseif t.s == 'executing' then
    if t.l then redis.call('ZADD', K_LEASES, t.l, t.id) end
  elseif t.s == 'waiting' then
    redis.call('ZADD', K_WAIT, t.n, t.id)
    if t.d then
      for _, dep in ipairs(cjson.decode(t.d)) do redis.call('SADD', dkey(dep), t.id) end
    end
  elseif FINAL[t.s] and t.fa then
    redis.call('ZADD', K_FIN, t.fa, t.id)
  end
  if t.sc then redis.call('RPUSH', runskey(t.sc), t.id) end
end

-- The ids of the first `limit` due tasks: queues in the given order, then priority
-- (highest first), then run_at, then enqueue order.
local function head(queues, now, limit)
  local out = {}
  for _, q in ipairs(queues) do
    if #out >= limit then break end
    for _, p in ipairs(redis.call('ZREVRANGE', pkey(q), 0, -1)) do
      local remaining = limit - #out
      if remaining <= 0 then break end
      local members = redis.call('ZRANGEBYSCORE', ckey(q, p), '-inf', now, 'LIMIT', 0, remaining)
      for _, m in ipairs(members) do out[#out + 1] = string.sub(m, 16) end
    end
  end
  return out
end

local function read_list()
  local out = {}
  for i = 1, argn() do out[i] = arg() end
  return out
end

