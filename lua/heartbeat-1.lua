#!lua flags=allow-oom
--[[ heartbeat: extend the leases of all jobs one worker holds, in one call.
  - A job whose token no longer matches (recovered and re-claimed elsewhere, or
    removed) is not extended and is reported lost.
  - A record it cannot read, or that is missing while the id is still in the active
    set (Redis Cluster with the queue's slot half migrated), keeps its lease: a
    removed job leaves the active set with its record, so it is still reported lost.
  - Flagged allow-oom: it only rescores existing members, so Redis at maxmemory
    (noeviction) still renews leases instead of letting live jobs stall (Redis >= 7.0).
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
  local f = redis.pcall('HMGET', job_key(base, ARGV[o]), 'token', 'state')
  local held = not f.err and f[1] == ARGV[o + 1] and f[2] == 'active'
  if not held and (f.err or not (f[1] or f[2])) then
    -- the record cannot be read here (error) or is absent while the lease is still in
    -- the active set: on Redis Cluster its slot is half migrated; keep the lease
    held = redis.call('ZSCORE', KEYS[1], ARGV[o]) ~= false
  end
  if held then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[o])
  else
    lost[#lost + 1] = ARGV[o]
  end
end
return lost
