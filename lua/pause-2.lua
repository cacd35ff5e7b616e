--[[ pause: pause or resume a queue for every worker.
  - Paused: claim hands out nothing (running jobs finish normally); enqueue works.
  - Resume wakes blocked workers.
KEYS:
  1 meta  hash  {prefix:queue}:meta (field paused)
  2 wake  list  {prefix:queue}:wake
ARGV:
  1 paused  '1' pause | '0' resume
Returns: 1 if the state changed, 0 if it already was so.
Errors: "pause: ARGV[1] must be '0' or '1'".
]]
--- @include "includes/push_waiting"

if ARGV[1] == '1' then
  return redis.call('HSET', KEYS[1], 'paused', '1')
elseif ARGV[1] == '0' then
  local changed = redis.call('HDEL', KEYS[1], 'paused')
  if changed == 1 then wake_workers(KEYS[2]) end
  return changed
end
return redis.error_reply("pause: ARGV[1] must be '0' or '1'")
