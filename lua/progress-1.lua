--[[ progress: store a running job's progress report (read with the job record).
  - Needs the run's lease token; a stale token changes nothing.
KEYS:
  1 active  zset  {prefix:queue}:active
ARGV:
  1 id        string
  2 token     string  the run's lease token
  3 progress  bytes   encoded progress value
Derived keys: {prefix:queue}:job:<id>.
Returns: 0 OK | -1 JOB_MISSING | -2 LEASE_LOST.
Errors: "progress: id, token and progress are required".
]]
--- @include "includes/codes"
--- @include "includes/job_key"

if not ARGV[3] then return redis.error_reply('progress: id, token and progress are required') end
local jk = job_key(queue_base(KEYS[1]), ARGV[1])
local f = redis.call('HMGET', jk, 'token', 'state')
if not f[2] then return CODES.JOB_MISSING end
if f[1] ~= ARGV[2] or f[2] ~= 'active' then return CODES.LEASE_LOST end
redis.call('HSET', jk, 'progress', ARGV[3])
return CODES.OK
