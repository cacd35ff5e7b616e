-- The key prefix of a queue ("{prefix:queue}"), derived from any of its keys, and the
-- key of one job record under it. Derived keys always stay inside the hash tag.
local function queue_base(any_key)
  local close = string.find(any_key, '}', 1, true)
  return string.sub(any_key, 1, close)
end

local function job_key(base, id)
  return base .. ':job:' .. id
end
