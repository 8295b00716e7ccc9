"""Login throttling: failed attempts counted per username and per client IP in Redis.

A fixed window per key: the first failure starts a ``WINDOW_S`` window; once a key holds
``MAX_FAILURES_PER_USER`` (username) or ``MAX_FAILURES_PER_IP`` (IP) failures, every login
attempt for it is refused until the window ends, without checking the password (so a locked
account cannot be probed). A successful login clears the username's counter.
"""

from __future__ import annotations

import hashlib

import redis as redis_lib

from agentic_app.domain.errors import LimitExceededError

PREFIX = "agentic:login:fail:"
"""Redis key prefix: ``agentic:login:fail:user:<sha256>`` and ``...:ip:<sha256>``."""
WINDOW_S = 300
"""Length of a counting window, in seconds."""
MAX_FAILURES_PER_USER = 5
"""Failed logins per username within a window before further attempts are refused."""
MAX_FAILURES_PER_IP = 20
"""Failed logins per client IP within a window (several users may share an IP)."""


class LoginThrottledError(LimitExceededError):
    """Too many failed logins; ``retry_after`` is the number of seconds to wait."""

    def __init__(self, message: str, *, limit: str, retry_after: int):
        super().__init__(message, limit=limit)
        self.retry_after = retry_after


def _keys(username: str, ip: str | None) -> list[tuple[str, str, int]]:
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    keys = [(f"{PREFIX}user:{digest(username.lower())}", "login_failures_per_user",
             MAX_FAILURES_PER_USER)]
    if ip:
        keys.append((f"{PREFIX}ip:{digest(ip)}", "login_failures_per_ip", MAX_FAILURES_PER_IP))
    return keys


def check_allowed(redis: redis_lib.Redis, *, username: str, ip: str | None) -> None:
    """Raise LoginThrottledError (with Retry-After seconds) when a counter is at its limit."""
    for key, limit, cap in _keys(username, ip):
        count = int(redis.get(key) or 0)
        if count >= cap:
            ttl = int(redis.ttl(key))
            raise LoginThrottledError(
                f"too many failed logins ({count} in {WINDOW_S // 60} minutes, limit {cap}); "
                f"try again later", limit=limit, retry_after=max(ttl, 1))


def record_failure(redis: redis_lib.Redis, *, username: str, ip: str | None) -> None:
    """Count one failed login for the username and the IP."""
    pipe = redis.pipeline(transaction=True)
    for key, _limit, _cap in _keys(username, ip):
        pipe.incr(key)
        pipe.expire(key, WINDOW_S, nx=True)
    pipe.execute()


def record_success(redis: redis_lib.Redis, *, username: str) -> None:
    """Clear the username's failure counter after a successful login."""
    key, _limit, _cap = _keys(username, None)[0]
    redis.delete(key)
