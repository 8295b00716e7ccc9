"""Hold live-subscription slots of one user from a process of its own (another backend, as
far as the cap is concerned) until killed, or for at most MAX_SECONDS.

Usage: ``python -m tests.security.live_slot_holder REDIS_URL USER_ID COUNT LEASE_S``; prints
``held`` once the slots are taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import redis

from agentic_app.services.live_slots import LiveSlots

MAX_SECONDS = 120.0


async def hold(url: str, user_id: int, count: int, lease_s: float) -> None:
    """Take ``count`` slots (the cap is ``count``) and keep renewing them."""
    client = redis.Redis.from_url(url)
    slots = LiveSlots(count, lease_s=lease_s, redis=lambda: client)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(count):
            await stack.enter_async_context(slots.hold(user_id))
        print("held", flush=True)
        await asyncio.sleep(MAX_SECONDS)


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
