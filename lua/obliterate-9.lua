--[[ obliterate: delete a whole queue, in bounded chunks (call until it returns 0).
  - Refused while jobs are active unless forced.
  - Pauses the queue first so no worker claims while it is being deleted; the
    last call deletes the meta key too (the queue then no longer exists).
KEYS:
  1 meta       hash  {prefix:queue}:meta
  2 wait       list  {prefix:queue}:wait
  3 prio       zset  {prefix:queue}:prio
  4 delayed    zset  {prefix:queue}:delayed
  5 active     zset  {prefix:queue}:active
  6 completed  zset  {prefix:queue}:completed
  7 failed     zset  {prefix:queue}:failed
  8 wake       list  {prefix:queue}:wake
  9 limit      list  {prefix:queue}:limit
ARGV:
  1 force  '0' | '1'
  2 chunk  int       most jobs deleted in this call
Derived keys: {prefix:queue}:job:<id>.
Returns: {code, more}: code 0 OK | -6 JOB_ACTIVE (more = active count);
  more 1 when jobs are left (call again), 0 when the queue is gone.
Errors: "obliterate: chunk must be a positive integer".
]]
--- @include "includes/codes"
--- @include "includes/job_key"

local chunk = tonumber(ARGV[2])
if not chunk or chunk < 1 then return redis.error_reply('obliterate: chunk must be a positive integer') end
local active = redis.call('ZCARD', KEYS[5])
if active > 0 and ARGV[1] ~= '1' then return {CODES.JOB_ACTIVE, active} end
redis.call('HSET', KEYS[1], 'paused', '1')
local base = queue_base(KEYS[1])
local budget = chunk
local ids = redis.call('LPOP', KEYS[2], budget) or {}
for i = 1, #ids do redis.call('DEL', job_key(base, ids[i])) end
budget = budget - #ids
for s = 3, 7 do
  if budget <= 0 then break end
  local got = redis.call('ZPOPMIN', KEYS[s], budget)
  for i = 1, #got, 2 do redis.call('DEL', job_key(base, got[i])) end
  budget = budget - #got / 2
end
for s = 2, 7 do
  if redis.call('EXISTS', KEYS[s]) == 1 then return {CODES.OK, 1} end
end
redis.call('DEL', KEYS[1], KEYS[8], KEYS[9])
return {CODES.OK, 0}
