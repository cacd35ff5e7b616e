--[[ heartbeat: extend the leases of all jobs one worker holds, in one call.
  - A job whose token no longer matches (recovered and re-claimed elsewhere, or
    removed) is not extended and is reported lost.
KEYS:
  1 active  zset  {prefix:queue}:active (score = lease deadline ms)
ARGV:
  1 now    int ms or ''  clock override (tests only)
  2 lease  int ms        new lease length, from now
  then pairs: id, token
Derived keys: {prefix:queue}:job:<id>.
Returns: array of the ids whose lease was lost.
Errors: "heartbeat: ..." on malformed arguments.
]]
--- @include "includes/now"
--- @include "includes/job_key"

local now = now_ms(ARGV[1], 'heartbeat')
local lease = tonumber(ARGV[2])
if not lease or #ARGV % 2 ~= 0 then
  return redis.error_reply('heartbeat: lease must be an integer, then id/token pairs')
end
local base = queue_base(KEYS[1])
local lost = {}
for o = 3, #ARGV, 2 do
  local f = redis.call('HMGET', job_key(base, ARGV[o]), 'token', 'state')
  if f[1] == ARGV[o + 1] and f[2] == 'active' then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[o])
  else
    lost[#lost + 1] = ARGV[o]
  end
end
return lost
