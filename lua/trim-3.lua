--[[ trim: apply the retention of completed and failed jobs on a quiet queue.
  - complete and fail trim as they go; this catches up on a queue that went idle, so a
    finished job never outlives its keep_*_age_ms by more than the caller's period.
  - Bounded work per call (about 100 removals per set); workers run it periodically.
KEYS:
  1 meta       hash  {prefix:queue}:meta (keep_completed_*, keep_failed_* settings)
  2 completed  zset  {prefix:queue}:completed
  3 failed     zset  {prefix:queue}:failed
ARGV:
  1 now  int ms or ''  clock override (tests only)
Derived keys: {prefix:queue}:job:<id>.
Returns: {completed_removed, failed_removed}.
Errors: "trim: ARGV[1] now (clock override) must be integer ms or empty".
]]
--- @include "includes/now"
--- @include "includes/job_key"
--- @include "includes/retention"

local now = now_ms(ARGV[1], 'trim')
local base = queue_base(KEYS[1])
local removed = {0, 0}
local rules = {
  {KEYS[2], 'keep_completed_age_ms', 600000, 'keep_completed_count', 10000},
  {KEYS[3], 'keep_failed_age_ms', 604800000, 'keep_failed_count', 100000},
}
for i, rule in ipairs(rules) do
  local age = meta_number(KEYS[1], rule[2], rule[3])
  local count = meta_number(KEYS[1], rule[4], rule[5])
  if age ~= 0 and count ~= 0 then
    removed[i] = trim_finished(rule[1], base, now, age, count, 0)
  end
end
return removed
