-- Protocol version spoken by these scripts; stored in the queue's meta key on first
-- use. A queue created by another protocol version is refused, never rewritten.
local PROTOCOL_VERSION = '1'

local function check_version(meta_key, create)
  local v = redis.call('HGET', meta_key, 'version')
  if not v then
    if create then redis.call('HSET', meta_key, 'version', PROTOCOL_VERSION) end
    return
  end
  if v ~= PROTOCOL_VERSION then
    error({err = 'rediq: protocol version mismatch: queue ' .. meta_key .. ' speaks ' .. v ..
      ', this script speaks ' .. PROTOCOL_VERSION})
  end
end
