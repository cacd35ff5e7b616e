-- Trim a finished set (completed or failed) to its retention: at most max_count
-- entries and none older than max_age_ms. Bounded work per call (100 removals).
-- A limit of -1 means "no limit" for that dimension.
local function trim_finished(set_key, base, now, max_age_ms, max_count)
  local removed = 0
  if max_count >= 0 then
    local excess = redis.call('ZCARD', set_key) - max_count
    if excess > 0 then
      local gone = redis.call('ZPOPMIN', set_key, math.min(excess, 100))
      for i = 1, #gone, 2 do
        redis.call('DEL', base .. ':job:' .. gone[i])
        removed = removed + 1
      end
    end
  end
  if max_age_ms >= 0 then
    local old = redis.call('ZRANGE', set_key, '-inf', now - max_age_ms, 'BYSCORE', 'LIMIT', 0, 100)
    for i = 1, #old do
      redis.call('ZREM', set_key, old[i])
      redis.call('DEL', base .. ':job:' .. old[i])
      removed = removed + 1
    end
  end
  return removed
end

-- Read a retention setting from the queue's meta hash, with a default.
local function meta_number(meta_key, field, default)
  local v = tonumber(redis.call('HGET', meta_key, field))
  if v == nil then return default end
  return v
end
