--[[ retry_failed: move failed jobs back to waiting with a fresh set of attempts.
  - Given ids: those jobs (each must be failed). No ids: the oldest `limit` failed.
  - failures and stalls are reset; attempts_made keeps counting runs.
KEYS:
  1 meta    hash  {prefix:queue}:meta
  2 wait    list  {prefix:queue}:wait
  3 prio    zset  {prefix:queue}:prio
  4 failed  zset  {prefix:queue}:failed
  5 wake    list  {prefix:queue}:wake
ARGV:
  1 limit  int     most jobs moved when no ids are given (0 or less: none)
  then ids (optional)
Derived keys: {prefix:queue}:job:<id>.
Returns: {moved, left_failed, codes} codes: one per given id (0 OK | -1 JOB_MISSING |
  -7 NOT_FAILED), empty when no ids were given.
Errors: "retry_failed: limit must be an integer".
]]
--- @include "includes/codes"
--- @include "includes/job_key"
--- @include "includes/push_waiting"

local limit = tonumber(ARGV[1])
if not limit then return redis.error_reply('retry_failed: limit must be an integer') end
local base = queue_base(KEYS[1])
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local given = #ids > 0
if not given and limit >= 1 then ids = redis.call('ZRANGE', KEYS[4], 0, limit - 1) end
local moved, codes = 0, {}
for i = 1, #ids do
  local id = ids[i]
  local jk = job_key(base, id)
  local f = redis.call('HMGET', jk, 'state', 'priority')
  if not f[1] then
    codes[#codes + 1] = CODES.JOB_MISSING
    redis.call('ZREM', KEYS[4], id)
  elseif f[1] ~= 'failed' then
    codes[#codes + 1] = CODES.NOT_FAILED
  else
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', jk, 'failures', 'stalls', 'finished_ms', 'token')
    redis.call('HSET', jk, 'state', 'waiting')
    push_waiting(KEYS[2], KEYS[3], KEYS[1], id, f[2], false)
    moved = moved + 1
    codes[#codes + 1] = CODES.OK
  end
end
if moved > 0 then wake_workers(KEYS[5]) end
if not given then codes = {} end
return {moved, redis.call('ZCARD', KEYS[4]), codes}
