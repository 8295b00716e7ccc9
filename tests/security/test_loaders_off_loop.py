"""Loaders and actions of the UI wait for the database or Redis off the backend's event loop:
while the app's SQLite write lock is held by another process (or Redis pauses every client),
a signed-in tab's handler that needs it waits, and meanwhile the backend keeps answering
``GET /ping`` quickly (timed from a separate process). Once the lock is released (Redis
resumes) the handler finishes."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import redis

from agentic_app.state.queue import QueueState
from agentic_app.state.tokens import TokensState
from tests.security.conftest import Account
from tests.security.loop_load import LoadResult, _probe_health
from tests.security.reflex_client import QUIET_PATH, ReflexClient, event_name

HOLD_S = 3.0
"""How long the database (or Redis) is held."""
SLOWEST_PING_MS = 1000.0
"""No ping may take longer while the handler waits (on the loop it would take ~HOLD_S)."""


async def _while_held(backend: str, release, start_handler, finished) -> tuple[float, LoadResult]:
    """Start the handler, probe /ping for HOLD_S, release, wait for the handler: (seconds
    from start to finish, the ping answers)."""
    out, done = LoadResult(), asyncio.Event()
    started = time.monotonic()
    await start_handler()
    probe = asyncio.create_task(_probe_health(f"{backend}/ping", HOLD_S, 5.0, out, done))
    await asyncio.sleep(HOLD_S)
    release()
    done.set()
    await probe
    await finished()
    return time.monotonic() - started, out


def test_ui_write_waits_for_the_database_off_the_loop(reflex_app, account: Account) -> None:
    """TokensState.create needs the write lock held by another process: the backend answers
    every ping within 1 s meanwhile, and the token is created after the release."""
    blocker = sqlite3.connect(reflex_app.data_dir / "agentic.db", isolation_level=None,
                              timeout=30)

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path=QUIET_PATH) as tab:
            await tab.emit(event_name(TokensState.set_new_name), {"value": "off-loop probe"})

            async def start() -> None:
                blocker.execute("BEGIN IMMEDIATE")
                await tab.emit(event_name(TokensState.create))

            async def finished() -> None:
                await tab.wait_for(lambda: tab.var(TokensState, "created_token"), 30,
                                   "token created")

            took, pings = await _while_held(reflex_app.backend, blocker.rollback, start,
                                            finished)
            assert took >= HOLD_S  # the handler did wait for the lock
            assert len(pings.health_ms) >= 5 and not pings.health_failures, pings.health_ms
            assert max(pings.health_ms) < SLOWEST_PING_MS, pings.health_ms

    try:
        asyncio.run(scenario())
    finally:
        blocker.close()


def test_ui_loader_waits_for_redis_off_the_loop(reflex_app, account: Account,
                                                redis_base_url) -> None:
    """QueueState.load_queue reads Redis while Redis pauses every client: the backend answers
    every ping within 1 s meanwhile, and the queue page loads after Redis resumes (an
    UNPAUSE would itself wait: the pause runs out)."""
    client = redis.Redis.from_url(redis_base_url)

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path=QUIET_PATH) as tab:
            async def start() -> None:
                client.execute_command("CLIENT", "PAUSE", int(HOLD_S * 1000), "ALL")
                await tab.emit(event_name(QueueState.load_queue), {}, "/queue")

            async def finished() -> None:
                await tab.wait_for(lambda: tab.var(QueueState, "loaded"), 30, "queue loaded")

            took, pings = await _while_held(reflex_app.backend, lambda: None, start, finished)
            assert took >= HOLD_S
            assert len(pings.health_ms) >= 5 and not pings.health_failures, pings.health_ms
            assert max(pings.health_ms) < SLOWEST_PING_MS, pings.health_ms

    asyncio.run(scenario())  # the pause ends by itself after HOLD_S
