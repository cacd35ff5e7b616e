--[[ counts: an atomic snapshot of how many jobs a queue holds in each state.
KEYS:
  1 meta       hash  {prefix:queue}:meta
  2 wait       list  {prefix:queue}:wait
  3 prio       zset  {prefix:queue}:prio
  4 delayed    zset  {prefix:queue}:delayed
  5 active     zset  {prefix:queue}:active
  6 completed  zset  {prefix:queue}:completed
  7 failed     zset  {prefix:queue}:failed
ARGV: none
Returns: {waiting, delayed, active, completed, failed, paused (0|1), stalled_total}
Errors: none.
]]
return {
  redis.call('LLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]),
  redis.call('ZCARD', KEYS[6]),
  redis.call('ZCARD', KEYS[7]),
  redis.call('HEXISTS', KEYS[1], 'paused'),
  tonumber(redis.call('HGET', KEYS[1], 'stalled_total')) or 0,
}
