-- Trim a finished set (completed or failed) to its retention: at most max_count
-- entries and none older than max_age_ms. Bounded work per call: at most 100 + added
-- removals per rule, `added` being how many entries the caller just put in, so the
-- set never outgrows its count however large the caller's batches are.
-- A limit of -1 means "no limit" for that dimension.
local function trim_finished(set_key, base, now, max_age_ms, max_count, added)
  local budget, removed = 100 + (added or 0), 0
  if max_count >= 0 then
    local excess = redis.call('ZCARD', set_key) - max_count
    if excess > 0 then
      local gone = redis.call('ZPOPMIN', set_key, math.min(excess, budget))
      for i = 1, #gone, 2 do
        redis.call('DEL', base .. ':job:' .. gone[i])
        removed = removed + 1
      end
    end
  end
  if max_age_ms >= 0 then
    local old = redis.call('ZRANGE', set_key, '-inf', now - max_age_ms, 'BYSCORE', 'LIMIT', 0, budget)
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

-- Record a job (state already 'failed') in the failed set under the queue's retention
-- for failed jobs (defaults 7 days, 100000; 0 deletes the record at once).
local function keep_failed(meta_key, failed_key, base, jk, id, now)
  local keep_age = meta_number(meta_key, 'keep_failed_age_ms', 604800000)
  local keep_count = meta_number(meta_key, 'keep_failed_count', 100000)
  if keep_age == 0 or keep_count == 0 then
    redis.call('DEL', jk)
  else
    redis.call('ZADD', failed_key, now, id)
    trim_finished(failed_key, base, now, keep_age, keep_count, 1)
  end
end
