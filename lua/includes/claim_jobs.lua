-- Claim up to `max` ready jobs for one worker. k = {meta, wait, prio, delayed,
-- active, wake, limit}; m = HMGET of meta 'version','paused','rate_max',
-- 'rate_period_ms','global_concurrency'. Promotes due delayed jobs, honours pause,
-- the global concurrency cap and the sliding-window rate limit (a list of the start
-- times inside the window), takes positive priorities, then the FIFO list, then
-- negative priorities. Returns {status, next_ms, id, runs, data, attempt, timeout_ms, ...}.
-- next_ms: ms until a retry can succeed (rate window, next delayed job), -1 unknown.
-- A record this node cannot read (Redis Cluster, slot half migrated) claims nothing
-- and changes nothing but due delayed jobs; next_ms is then SLOT_MOVING_RETRY_MS.
local SLOT_MOVING_RETRY_MS = 100 -- next_ms of a claim that found a record on another node
local function claim_jobs(k, base, m, now, max, token, lease_ms)
  if m[1] and m[1] ~= PROTOCOL_VERSION then check_version(k.meta, false) end
  local due = redis.call('ZRANGE', k.delayed, '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)
  for i = 1, #due do
    local jk = job_key(base, due[i])
    local e = redis.pcall('EXISTS', jk) -- an error: the record is on another node (slot moving)
    if type(e) == 'table' then break end
    redis.call('ZREM', k.delayed, due[i])
    if e == 1 then -- a removed job leaves a stray id: drop it
      redis.call('HSET', jk, 'state', 'waiting')
      push_waiting(k.wait, k.prio, k.meta, due[i], redis.call('HGET', jk, 'priority'), false)
    end
  end
  if m[2] == '1' then return {CODES.QUEUE_PAUSED, -1} end
  if max <= 0 then return {CODES.OK, -1} end
  local n, status, next_ms = math.min(max, 1000), CODES.OK, -1
  local gc = tonumber(m[5]) or 0
  if gc > 0 then
    local free = gc - redis.call('ZCARD', k.active)
    if free <= 0 then return {CODES.CONCURRENCY_LIMITED, -1} end
    n = math.min(n, free)
  end
  local rmax, period = tonumber(m[3]) or 0, tonumber(m[4]) or 0
  if rmax > 0 then
    local first = tonumber(redis.call('LINDEX', k.limit, 0))
    while first and first <= now - period do
      redis.call('LPOP', k.limit)
      first = tonumber(redis.call('LINDEX', k.limit, 0))
    end
    local free = rmax - redis.call('LLEN', k.limit)
    if free <= 0 then return {CODES.RATE_LIMITED, first + period - now} end
    n = math.min(n, free)
  end
  -- pick the ids without removing them: positive priorities (ranks 0..hi-1 of prio),
  -- then the FIFO list, then the rest of prio (priority <= 0, contiguous ranks)
  local ids, hi, fifo = {}, 0, 0
  local top = redis.call('ZRANGE', k.prio, 0, n - 1, 'WITHSCORES')
  for i = 1, #top, 2 do
    if tonumber(top[i + 1]) >= 0 then break end
    ids[#ids + 1], hi = top[i], hi + 1
  end
  if #ids < n then
    local got = redis.call('LRANGE', k.wait, 0, n - #ids - 1)
    for i = 1, #got do ids[#ids + 1] = got[i] end
    fifo = #got
  end
  if #ids < n then
    local low = redis.call('ZRANGE', k.prio, hi, hi + n - #ids - 1)
    for i = 1, #low do ids[#ids + 1] = low[i] end
  end
  -- read every record before removing or writing anything; pcall, as a key of another
  -- type is no job record (a stray, dropped below)
  local recs = {}
  for i = 1, #ids do
    local f = redis.pcall('HMGET', job_key(base, ids[i]), 'runs', 'data', 'attempts_made', 'timeout_ms')
    if f.err and not string.find(f.err, 'WRONGTYPE', 1, true) then
      return {status, SLOT_MOVING_RETRY_MS} -- this node cannot read it: its slot is migrating
    end
    recs[i] = f
  end
  if #ids - fifo > 0 then redis.call('ZREMRANGEBYRANK', k.prio, 0, #ids - fifo - 1) end
  if fifo > 0 then redis.call('LPOP', k.wait, fifo) end
  local reply, leases, starts = {status, next_ms}, {}, {}
  for i = 1, #ids do
    local id, f = ids[i], recs[i]
    local jk = job_key(base, id)
    if not f.err and (f[1] or f[2] or redis.call('EXISTS', jk) == 1) then -- no runs/data: runs, fails visibly
      local attempt = (tonumber(f[3]) or 0) + 1
      redis.call('HSET', jk, 'state', 'active', 'token', token, 'attempts_made', attempt,
        'started_ms', now)
      leases[#leases + 1] = now + lease_ms
      leases[#leases + 1] = id
      starts[#starts + 1] = now
      local r = #reply
      reply[r + 1], reply[r + 2], reply[r + 3] = id, f[1] or '', f[2] or ''
      reply[r + 4], reply[r + 5] = attempt, tonumber(f[4]) or 0
    end
  end
  if #leases > 0 then redis.call('ZADD', k.active, unpack(leases)) end
  if rmax > 0 and #starts > 0 then
    redis.call('RPUSH', k.limit, unpack(starts))
    redis.call('PEXPIRE', k.limit, period + 1000)
    if redis.call('LLEN', k.limit) >= rmax then
      reply[2] = tonumber(redis.call('LINDEX', k.limit, 0)) + period - now
    end
  end
  if #ids == math.min(max, 1000) then
    if redis.call('LLEN', k.wait) > 0 or redis.call('ZCARD', k.prio) > 0 then wake_workers(k.wake) end
  elseif reply[2] == -1 then
    local nd = redis.call('ZRANGE', k.delayed, 0, 0, 'WITHSCORES')
    if nd[2] then reply[2] = math.max(tonumber(nd[2]) - now, 1) end
  end
  return reply
end
