"""A Redis lease that makes exactly one process the active one (scheduler, local runtime).

Acquire with ``SET key token NX PX ttl``; renew and release only while the key
still holds our token (compare-and-pexpire / compare-and-delete in Lua), so a
paused former holder can never extend or delete a successor's lease.
"""

from __future__ import annotations

import secrets

import redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """A renewable, token-guarded lease on one Redis key."""

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int = 10_000,
                 token: str | None = None):
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = token or secrets.token_hex(16)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lease if it is free; True when we hold it afterwards."""
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return self.held()

    def renew(self) -> bool:
        """Extend our lease; False when it was lost (expired or taken by another)."""
        return bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    def held(self) -> bool:
        """True while the key holds our token."""
        value = self.client.get(self.key)
        return value is not None and value.decode() == self.token

    def release(self) -> bool:
        """Give the lease up if we still hold it."""
        return bool(self._release(keys=[self.key], args=[self.token]))

    def holder(self) -> str | None:
        """Token of the current holder, if any."""
        value = self.client.get(self.key)
        return value.decode() if value is not None else None
