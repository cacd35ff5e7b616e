-- Retry delay in ms for the n-th failure (n >= 1) from a backoff spec
-- "<fixed|exponential>:<base_ms>:<cap_ms>:<jitter 0..1>" ('' or unreadable: no delay).
-- Jitter takes a random fraction (up to `jitter`) off the delay; rand in [0, 1) is
-- given by the caller so the script stays deterministic.
local function backoff_delay(spec, n, rand)
  if not spec or spec == '' then return 0 end
  local kind, base, cap, jitter = string.match(spec, '^(%a+):(%d+):(%d+):([^:]+)$')
  jitter = tonumber(jitter) -- any number form: Python writes 1e-05 for small jitters
  if not kind or not jitter then return 0 end
  base, cap = tonumber(base), tonumber(cap)
  local d = base
  if kind == 'exponential' then d = base * math.pow(2, math.min(n - 1, 40)) end
  if cap > 0 and d > cap then d = cap end
  if jitter > 0 then d = d * (1 - math.min(jitter, 1) * (tonumber(rand) or 0)) end
  return math.floor(d)
end
