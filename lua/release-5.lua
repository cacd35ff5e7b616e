--[[ release: hand jobs a worker holds back to waiting at once (graceful stop).
  - Needs each job's lease token; stale tokens change nothing.
  - The jobs go to the head of waiting (ahead of their priority), in the order
    given; no stall is counted.
  - started '0' (claimed but never run) also takes back the attempt the claim counted.
KEYS:
  1 meta    hash  {prefix:queue}:meta
  2 wait    list  {prefix:queue}:wait
  3 prio    zset  {prefix:queue}:prio
  4 active  zset  {prefix:queue}:active
  5 wake    list  {prefix:queue}:wake
ARGV:
  1 now  int ms or ''  clock override (tests only; unused but kept for uniformity)
  then triples: id, token, started ('0' | '1')
Derived keys: {prefix:queue}:job:<id>.
Returns: array of one code per job: 0 OK | -1 JOB_MISSING | -2 LEASE_LOST.
Errors: "release: ..." on malformed arguments.
]]
--- @include "includes/codes"
--- @include "includes/job_key"
--- @include "includes/push_waiting"

if (#ARGV - 1) % 3 ~= 0 then return redis.error_reply('release: expected id/token/started triples') end
local base = queue_base(KEYS[1])
local codes, back = {}, {}
for o = 2, #ARGV, 3 do
  local id = ARGV[o]
  local jk = job_key(base, id)
  local f = redis.call('HMGET', jk, 'token', 'state', 'priority')
  if not f[2] then
    codes[#codes + 1] = CODES.JOB_MISSING
  elseif f[1] ~= ARGV[o + 1] or f[2] ~= 'active' then
    codes[#codes + 1] = CODES.LEASE_LOST
  else
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', jk, 'token')
    redis.call('HSET', jk, 'state', 'waiting')
    if ARGV[o + 2] == '0' then redis.call('HINCRBY', jk, 'attempts_made', -1) end
    back[#back + 1] = {id, f[3]}
    codes[#codes + 1] = CODES.OK
  end
end
for i = #back, 1, -1 do -- last first: the jobs keep their order at the head
  push_waiting(KEYS[2], KEYS[3], KEYS[1], back[i][1], back[i][2], true)
end
if #back > 0 then wake_workers(KEYS[5]) end
return codes
