-- Current time in integer milliseconds: the server clock, unless the documented
-- clock override (always ARGV[1] of a script) is a non-empty number (tests only).
-- `script` names the caller in the error raised for a malformed override.
local function now_ms(override, script)
  if override ~= nil and override ~= '' then
    local t = tonumber(override)
    if not t then error({err = script .. ': ARGV[1] now (clock override) must be integer ms or empty'}) end
    return t
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
