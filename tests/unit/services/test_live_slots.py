"""LiveSlots: a per-user cap on open live streams, as leases in Redis shared by every
process (or counted locally without Redis); a refused hold changes nothing, a lease that is
not renewed runs out."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis

from agentic_app.domain.errors import LimitExceededError
from agentic_app.services.live_slots import KEY_PREFIX, LIMIT_NAME, LiveSlots


async def _caps_and_frees(slots: LiveSlots) -> None:
    async with slots.hold(1), slots.hold(1):
        assert slots.open_count(1) == 2
        with pytest.raises(LimitExceededError) as exc:
            async with slots.hold(1):
                pass
        assert exc.value.limit == LIMIT_NAME and slots.open_count(1) == 2
        async with slots.hold(2):
            assert slots.open_count(2) == 1
    assert slots.open_count(1) == 0
    with pytest.raises(RuntimeError):
        async with slots.hold(1):
            raise RuntimeError("stream failed")
    assert slots.open_count(1) == 0


def test_hold_caps_per_user_and_frees_on_exit_locally():
    """Without Redis: two holds of a cap-2 user pass, the third names the limit; other users
    are apart; leaving a block (also by an exception) frees its slot."""
    asyncio.run(_caps_and_frees(LiveSlots(2)))


def test_hold_caps_per_user_in_redis(redis_url):
    """The same with the leases in Redis."""
    client = redis.Redis.from_url(redis_url)
    asyncio.run(_caps_and_frees(LiveSlots(2, redis=lambda: client)))
    assert client.keys(f"{KEY_PREFIX}*") == [] or client.zcard(f"{KEY_PREFIX}1") == 0


def test_two_processes_share_the_cap_and_leases_renew_and_expire(redis_url):
    """Two facades (two backends) on one Redis share a user's cap; a held lease outlives
    several lease periods (renewed), and a lease nobody renews (its holder died) runs out."""
    client = redis.Redis.from_url(redis_url)
    first = LiveSlots(2, lease_s=1.0, redis=lambda: client)
    second = LiveSlots(2, lease_s=1.0, redis=lambda: redis.Redis.from_url(redis_url))

    async def scenario() -> None:
        async with first.hold(7):
            async with second.hold(7):
                with pytest.raises(LimitExceededError):
                    async with first.hold(7):
                        pass
                await asyncio.sleep(2.5)  # renewed meanwhile
                assert second.open_count(7) == 2
        assert first.open_count(7) == 0
        # a holder that dies: its lease stays until it runs out
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(first.hold(7))
        await stack.enter_async_context(first.hold(7))
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()  # the renewals stop, as in a killed process
        await asyncio.sleep(0)
        assert second.open_count(7) == 2
        await asyncio.sleep(1.3)
        assert second.open_count(7) == 0
        async with second.hold(7):
            assert second.open_count(7) == 1

    asyncio.run(scenario())
