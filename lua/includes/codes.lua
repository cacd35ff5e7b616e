-- Reply codes shared by every script. python/rediq/errors.py mirrors this table
-- (tests/unit/test_codes.py keeps the two in sync).
local CODES = {
  OK = 0,                  -- done as asked
  JOB_EXISTS = 1,          -- enqueue: a job with this id is already stored; nothing changed
  ALREADY_FINISHED = 2,    -- complete/fail repeated with the same token after it succeeded
  JOB_MISSING = -1,        -- no job record with this id
  LEASE_LOST = -2,         -- token does not match the job's current lease (stale worker)
  QUEUE_PAUSED = -3,       -- claim: queue is paused
  RATE_LIMITED = -4,       -- claim: the queue's rate limit allows no start now
  CONCURRENCY_LIMITED = -5, -- claim: the queue's global concurrency cap is reached
  JOB_ACTIVE = -6,         -- remove/obliterate: refused, job(s) active and not forced
  NOT_FAILED = -7,         -- retry: the job is not in the failed set
}
