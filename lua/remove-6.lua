--[[ remove: delete one job and every reference to it.
  - An active job is refused (JOB_ACTIVE) unless forced; a forced removal makes the
    running worker's completion answer JOB_MISSING.
KEYS:
  1 wait       list  {prefix:queue}:wait
  2 prio       zset  {prefix:queue}:prio
  3 delayed    zset  {prefix:queue}:delayed
  4 active     zset  {prefix:queue}:active
  5 completed  zset  {prefix:queue}:completed
  6 failed     zset  {prefix:queue}:failed
ARGV:
  1 id     string
  2 force  '0' | '1'
Derived keys: {prefix:queue}:job:<id>.
Returns: 0 OK | -1 JOB_MISSING | -6 JOB_ACTIVE.
Errors: "remove: id is required".
]]
--- @include "includes/codes"
--- @include "includes/job_key"

local id = ARGV[1]
if not id or id == '' then return redis.error_reply('remove: id is required') end
local jk = job_key(queue_base(KEYS[1]), id)
local state = redis.call('HGET', jk, 'state')
if redis.call('EXISTS', jk) == 0 then return CODES.JOB_MISSING end
if state == 'active' and ARGV[2] ~= '1' then return CODES.JOB_ACTIVE end
redis.call('LREM', KEYS[1], 0, id)
for i = 2, 6 do redis.call('ZREM', KEYS[i], id) end
redis.call('DEL', jk)
return CODES.OK
