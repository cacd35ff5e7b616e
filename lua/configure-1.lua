--[[ configure: set queue-wide settings that every worker enforces.
  - Creates the queue's meta (protocol version) on first use.
  - An empty value removes the setting (its default applies).
  - Known fields: rate_max, rate_period_ms, global_concurrency, max_stalls,
    keep_completed_age_ms, keep_completed_count, keep_failed_age_ms,
    keep_failed_count (integers; -1 = unlimited for the keep_* fields).
KEYS:
  1 meta  hash  {prefix:queue}:meta
ARGV: pairs field, value
Returns: flat array field, old value ('' when unset) for every field that changed.
Errors: protocol version mismatch; "configure: unknown field <f>";
  "configure: <f> must be an integer".
]]
--- @include "includes/version"

local known = {rate_max = true, rate_period_ms = true, global_concurrency = true,
  max_stalls = true, keep_completed_age_ms = true, keep_completed_count = true,
  keep_failed_age_ms = true, keep_failed_count = true}
for o = 1, #ARGV, 2 do
  if not known[ARGV[o]] then return redis.error_reply('configure: unknown field ' .. tostring(ARGV[o])) end
  if not ARGV[o + 1] or (ARGV[o + 1] ~= '' and not string.match(ARGV[o + 1], '^%-?%d+$')) then
    return redis.error_reply('configure: ' .. ARGV[o] .. ' must be an integer')
  end
end
check_version(KEYS[1], true)
local changed = {}
for o = 1, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[o]) or ''
  if old ~= ARGV[o + 1] then
    if ARGV[o + 1] == '' then
      redis.call('HDEL', KEYS[1], ARGV[o])
    else
      redis.call('HSET', KEYS[1], ARGV[o], ARGV[o + 1])
    end
    changed[#changed + 1] = ARGV[o]
    changed[#changed + 1] = old
  end
end
return changed
