-- Put a job into the waiting structures: the list for priority 0 (FIFO), the
-- priority zset otherwise (score -priority*2^32 + seq: higher priority first, FIFO
-- among equals; seq from meta prio_seq). front=true puts the job at the head of its
-- priority (hand-back): LPUSH, or seq negated, so like LPUSH the latest goes first.
local function push_waiting(wait_key, prio_key, meta_key, id, priority, front)
  priority = tonumber(priority) or 0
  if priority == 0 then
    if front then redis.call('LPUSH', wait_key, id) else redis.call('RPUSH', wait_key, id) end
  else
    local seq = redis.call('HINCRBY', meta_key, 'prio_seq', 1)
    if front then seq = -seq end
    redis.call('ZADD', prio_key, -priority * 4294967296 + seq, id)
  end
end

-- Leave one wake-up token for workers blocked on the queue's wake key (at most one
-- is ever stored, so an idle queue keeps no backlog of tokens).
local function wake_workers(wake_key)
  if redis.call('LLEN', wake_key) == 0 then
    redis.call('RPUSH', wake_key, '1')
  end
end
