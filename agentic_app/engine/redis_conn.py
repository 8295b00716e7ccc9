"""Redis connections and liveness checks shared by workers, scheduler and app."""

from __future__ import annotations

import redis


def connect(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A Redis client with bounded connect/read timeouts and health checks."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=max(timeout, 5.0),
        health_check_interval=30,
        retry_on_timeout=True,
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
