"""Redis connections and liveness checks shared by workers, scheduler and app."""

from __future__ import annotations

import functools

import redis
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.retry import Retry
from redis.utils import get_lib_version


@functools.cache
def driver_info() -> DriverInfo:
    """redis-py's client identification, built once per process: redis-py otherwise looks its
    own version up in the package metadata for every new connection (~1 ms, paid by every
    forked work-horse, whose connections are all new)."""
    return DriverInfo(name="redis-py", lib_version=get_lib_version())


def connect(url: str, *, timeout: float = 2.0, read_timeout: float | None = None,
            retry: bool = True) -> redis.Redis:
    """A Redis client with bounded connect/read timeouts and health checks; the read timeout
    is ``read_timeout`` or at least 5 s; ``retry=False``: a failed command is not retried."""
    extra = {} if retry else {"retry": Retry(NoBackoff(), 0)}
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=read_timeout if read_timeout is not None else max(timeout, 5.0),
        health_check_interval=30,
        retry_on_timeout=retry,
        driver_info=driver_info(),
        **extra,
    )


def redis_answers(url: str, *, timeout: float = 0.5) -> bool:
    """True when a Redis server at ``url`` answers PING within ``timeout`` seconds."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False
