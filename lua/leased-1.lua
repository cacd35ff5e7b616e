--[[ leased: the live leases held under one token (finds a claim whose reply was lost).
  - A claim that ran on the server but whose reply never reached the client (the
    connection dropped in between) leaves jobs leased under its token that no worker
    runs. A client that repeated such a call asks for them here and hands the ones
    it did not get back with release (started '0': no stall, the attempt taken back).
  - Read-only. Looks at up to `limit` leases still live (deadline after now), so its
    cost is bounded by the number of active jobs of the queue.
KEYS:
  1 active  zset  {prefix:queue}:active (score = lease deadline ms)
ARGV:
  1 now    int ms or ''  clock override (tests only)
  2 token  string        the lease token of the claim call
  3 limit  int           most live leases examined
Derived keys: {prefix:queue}:job:<id>.
Returns: array of the ids of active jobs whose lease token is `token`.
Errors: "leased: ..." on malformed arguments.
]]
--- @include "includes/now"
--- @include "includes/job_key"

local now = now_ms(ARGV[1], 'leased')
local limit = tonumber(ARGV[3])
if not ARGV[2] or ARGV[2] == '' or not limit or limit < 1 then
  return redis.error_reply('leased: token must be non-empty, limit a positive integer')
end
local base = queue_base(KEYS[1])
local live = redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE', 'LIMIT', 0, limit)
local ids = {}
for i = 1, #live do
  local f = redis.pcall('HMGET', job_key(base, live[i]), 'token', 'state')
  if not f.err and f[1] == ARGV[2] and f[2] == 'active' then ids[#ids + 1] = live[i] end
end
return ids
