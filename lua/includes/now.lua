-- Current time in integer milliseconds: the server clock, unless the documented
-- clock override (always ARGV[1] of a script) is a non-empty number (tests only).
local function now_ms(override)
  if override ~= nil and override ~= '' then
    local t = tonumber(override)
    if not t then return redis.error_reply('rediq: clock override must be a number') end
    return t
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
