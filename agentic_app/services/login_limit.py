"""Login throttling: failed attempts per username and per client address, counted in Redis.

Growing delays, never a lock: each key (username, client IP) gets some free failures
(settings ``LOGIN__FAILURES_PER_USER`` / ``LOGIN__FAILURES_PER_IP``); after that the next
attempt must wait ``LOGIN__FIRST_DELAY_SECONDS`` after the last failure, doubling with each
further failure up to ``LOGIN__MAX_DELAY_SECONDS``. Once the wait is over the right
password works, so an attacker cannot lock a victim out; they only slow down guessing.
Counters are forgotten ``LOGIN__FORGET_AFTER_SECONDS`` after the last failure.

Atomic: :func:`check_allowed` checks both keys and, when the attempt may go ahead, counts it
as a failure in the same Lua script, so parallel attempts cannot all slip through before
any failure is recorded. :func:`record_failure` then only moves the delay's start to the
end of the failed attempt; :func:`record_success` clears the username's counter and gives
the client address its attempt back. An attempt never settled stays counted as a failure.
"""

from __future__ import annotations

import hashlib
import math

import redis as redis_lib

from agentic_app.domain.errors import LimitExceededError
from agentic_app.settings import LoginLimits, get_settings

PREFIX = "agentic:login:fail:"
"""Redis key prefix: hashes ``agentic:login:fail:user:<sha256>`` and ``...:ip:<sha256>``
with fields ``n`` (failures) and ``t`` (time of the last one, ms, Redis clock)."""

_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local first, cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'n', 't')
  local n, last = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  local free = tonumber(ARGV[3 + i])
  if n >= free then
    local wait = last + math.min(first * 2 ^ (n - free), cap) - now
    if wait > 0 then return {i, math.ceil(wait)} end
  end
end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 't', now)
  redis.call('EXPIRE', key, ttl)
end
return {0, 0}
"""
"""Check every key's delay; when none applies, count the attempt on every key."""

_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 't', now)
    redis.call('EXPIRE', key, ARGV[1])
  end
end
"""
"""Settle failed attempts: their delay starts now."""

_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if KEYS[2] and redis.call('HINCRBY', KEYS[2], 'n', -1) < 0 then
  redis.call('HSET', KEYS[2], 'n', 0)
end
"""
"""Settle a success: clear the username's counter, refund the client address's attempt."""


class LoginThrottledError(LimitExceededError):
    """Too many failed logins; ``retry_after`` is the number of seconds to wait."""

    def __init__(self, message: str, *, limit: str, retry_after: int):
        super().__init__(message, limit=limit)
        self.retry_after = retry_after


def _keys(username: str, ip: str | None, limits: LoginLimits) -> list[tuple[str, str, int]]:
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    keys = [(f"{PREFIX}user:{digest(username.lower())}", "login_failures_per_user",
             limits.failures_per_user)]
    if ip:
        keys.append((f"{PREFIX}ip:{digest(ip)}", "login_failures_per_ip", limits.failures_per_ip))
    return keys


def check_allowed(redis: redis_lib.Redis, *, username: str, ip: str | None,
                  limits: LoginLimits | None = None) -> None:
    """Raise LoginThrottledError (with Retry-After seconds) while a key's delay runs;
    otherwise count this attempt (settle it with record_failure / record_success)."""
    limits = limits or get_settings().login
    keys = _keys(username, ip, limits)
    index, wait_ms = redis.eval(
        _ATTEMPT, len(keys), *(k for k, _l, _f in keys),
        int(limits.first_delay_seconds * 1000), int(limits.max_delay_seconds * 1000),
        limits.forget_after_seconds, *(free for _k, _l, free in keys))
    if index:
        _key, limit, free = keys[int(index) - 1]
        retry_after = max(1, math.ceil(int(wait_ms) / 1000))
        raise LoginThrottledError(
            f"too many failed logins (more than {free}); try again in {retry_after} s",
            limit=limit, retry_after=retry_after)


def record_failure(redis: redis_lib.Redis, *, username: str, ip: str | None,
                   limits: LoginLimits | None = None) -> None:
    """Settle a failed login: the next delay counts from now."""
    limits = limits or get_settings().login
    keys = [k for k, _l, _f in _keys(username, ip, limits)]
    redis.eval(_FAILED, len(keys), *keys, limits.forget_after_seconds)


def record_success(redis: redis_lib.Redis, *, username: str, ip: str | None = None,
                   limits: LoginLimits | None = None) -> None:
    """Settle a successful login: clear the username's counter and give the client address
    back the attempt counted for it."""
    keys = [k for k, _l, _f in _keys(username, ip, limits or get_settings().login)]
    redis.eval(_SUCCEEDED, len(keys), *keys)
