--[[ enqueue: store one or many new jobs and make them waiting (or delayed).
  - A job whose id is already stored is left untouched and reported as existing
    (idempotent enqueue: a retried call never stores a job twice).
  - Priority 0 goes to the FIFO list, other priorities to the priority zset.
  - Leaves one wake-up token for blocked workers (they re-claim, or learn when the
    next delayed job is due).
  - Creates the queue's meta (protocol version) on first use.
KEYS:
  1 meta     hash  {prefix:queue}:meta
  2 wait     list  {prefix:queue}:wait
  3 prio     zset  {prefix:queue}:prio
  4 delayed  zset  {prefix:queue}:delayed
  5 wake     list  {prefix:queue}:wake
ARGV:
  1 now       int ms or ''  clock override (tests only; '' = server TIME)
  2 count     int           number of jobs that follow
  then per job, 8 values:
    id        string        job id (client generated, unique per queue)
    runs      string        handler name
    data      bytes         encoded payload (MessagePack by default)
    priority  int           higher runs first; 0 default
    attempts  int >= 1      runs that may end in failure before the job fails
    backoff   string        '' or "<fixed|exponential>:<base_ms>:<cap_ms>:<jitter>"
    timeout   int ms        0 = none
    delay     int ms        0 = ready now
Derived keys: {prefix:queue}:job:<id> (hash, see PROTOCOL.md).
Returns: array of one code per job: 0 OK (stored) or 1 JOB_EXISTS.
Errors: protocol version mismatch; "enqueue: ..." on malformed arguments (all jobs
  are checked before any is stored, so a malformed call stores nothing).
]]
--- @include "includes/codes"
--- @include "includes/now"
--- @include "includes/version"
--- @include "includes/job_key"
--- @include "includes/push_waiting"

local now = now_ms(ARGV[1], 'enqueue')
local count = tonumber(ARGV[2])
if not count or count < 0 or #ARGV ~= 2 + count * 8 then
  return redis.error_reply('enqueue: ARGV[2] count does not match the number of job arguments (8 per job)')
end
for o = 2, #ARGV - 1, 8 do -- validate every job before storing any
  local a = {ARGV[o + 4], ARGV[o + 5], ARGV[o + 7], ARGV[o + 8]}
  for j = 1, 4 do a[j] = string.match(a[j], '^%-?%d+$') end
  if ARGV[o + 1] == '' or not (a[1] and a[2] and a[3] and a[4]) or tonumber(a[2]) < 1 then
    return redis.error_reply('enqueue: job ' .. (o - 2) / 8 .. ': id must be non-empty; priority, ' ..
      'attempts (>= 1), timeout and delay must be integers')
  end
end
check_version(KEYS[1], true)
local base = queue_base(KEYS[1])
local codes, woke, fifo = {}, false, {}
for o = 2, #ARGV - 1, 8 do
  local id, priority = ARGV[o + 1], tonumber(ARGV[o + 4])
  local timeout, delay = tonumber(ARGV[o + 7]), tonumber(ARGV[o + 8])
  local jk = job_key(base, id)
  if redis.call('EXISTS', jk) == 1 then
    codes[#codes + 1] = CODES.JOB_EXISTS
  else
    local f = {'runs', ARGV[o + 2], 'data', ARGV[o + 3], 'attempts', tonumber(ARGV[o + 5]),
      'created_ms', now, 'state', delay > 0 and 'delayed' or 'waiting'}
    if priority ~= 0 then f[#f + 1], f[#f + 2] = 'priority', priority end
    if ARGV[o + 6] ~= '' then f[#f + 1], f[#f + 2] = 'backoff', ARGV[o + 6] end
    if timeout > 0 then f[#f + 1], f[#f + 2] = 'timeout_ms', timeout end
    if delay > 0 then f[#f + 1], f[#f + 2] = 'run_at_ms', now + delay end
    redis.call('HSET', jk, unpack(f)) -- one write per job
    if delay > 0 then
      redis.call('ZADD', KEYS[4], now + delay, id)
    elseif priority == 0 then
      fifo[#fifo + 1] = id -- pushed in one RPUSH below, in order
    else
      push_waiting(KEYS[2], KEYS[3], KEYS[1], id, priority, false)
    end
    woke = true -- idle workers claim, or learn when the delayed job is due
    codes[#codes + 1] = CODES.OK
  end
end
for i = 1, #fifo, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(fifo, i, math.min(i + 999, #fifo)))
end
if woke then wake_workers(KEYS[5]) end
return codes
