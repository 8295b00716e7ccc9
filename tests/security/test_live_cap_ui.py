"""The live-subscription cap holds per user across backend processes, through the Reflex live
views of a running app: when another process holds all the user's slots, the live views
(``watch_user_events``, ``follow``) end cleanly with a toast naming the limit; when that
process is killed with SIGKILL its slots free themselves within one lease and the next live
view runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import redis

from agentic_app.services.live_slots import KEY_PREFIX
from agentic_app.settings import REPO_ROOT
from agentic_app.state.live import LiveState
from agentic_app.state.monitor import MonitorState
from tests.security.conftest import API, Account
from tests.security.reflex_client import ReflexClient, event_name

CAP = 20
"""The app's default LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER."""
HOLDER_LEASE_S = 2.0
"""Lease of the holder process's slots."""
SETTING = "LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER"


def _user_id(app, account: Account) -> int:
    me = httpx.get(f"{app.backend}{API}/auth/me", headers=account.headers, timeout=30)
    me.raise_for_status()
    return int(me.json()["id"])


def _start_holder(redis_url: str, user_id: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.security.live_slot_holder", redis_url,
                             str(user_id), str(CAP), str(HOLDER_LEASE_S)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _refused_toasts(tab: ReflexClient, mark: int) -> list[str]:
    return [t for t in map(json.dumps, tab.events_since(mark)) if SETTING in t]


async def _watch(tab: ReflexClient, held, timeout: float = 20) -> tuple[int, bool]:
    """Send watch_user_events; (mark, True when it was refused with the toast; False when the
    watcher runs: its flag is on and ``held()`` - it took its lease)."""
    mark = await tab.emit(event_name(LiveState.watch_user_events), {}, "/monitor")
    await tab.wait_for(lambda: _refused_toasts(tab, mark)
                       or (tab.var(LiveState, "watching") and held()),
                       timeout, "watcher refused or running")
    return mark, bool(_refused_toasts(tab, mark))


def test_live_views_refused_past_the_cap_across_processes(reflex_app, account: Account,
                                                          redis_base_url) -> None:
    """Another process holds the user's 20 slots: the user-event watcher and the follow of an
    execution's page are refused with a toast naming the setting, their flags go back off and the
    backend adds no lease; after the holder is killed (-9), within a lease a new watcher runs
    and holds exactly one slot."""
    user_id = _user_id(reflex_app, account)
    run = httpx.post(f"{reflex_app.backend}{API}/workflows/{account.workflow_id}/run",
                     headers=account.headers, timeout=30)
    run.raise_for_status()
    execution_id = int(run.json()["execution_id"])
    client = redis.Redis.from_url(redis_base_url)
    key = f"{KEY_PREFIX}{user_id}"
    holder = _start_holder(redis_base_url, user_id)

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/monitor") as tab:
            mark, refused = await _watch(tab, lambda: client.zcard(key) > CAP)
            assert refused, tab.events_since(mark)
            await tab.wait_for(lambda: not tab.var(LiveState, "watching", True), 10,
                               "watching flag back off")
            assert client.zcard(key) == CAP  # the refused watcher took no lease
            async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                    path=f"/monitor/{execution_id}") as monitor:
                await monitor.wait_for(lambda: monitor.var(MonitorState, "loaded"), 30,
                                       "execution view loaded")
                # the page load's follow (chained by load_execution, run by the backend)
                await monitor.wait_for(lambda: _refused_toasts(monitor, 0), 20,
                                       "follow refused with the toast")
                await monitor.wait_for(lambda: not monitor.var(MonitorState, "live", True),
                                       10, "live flag back off")
                assert client.zcard(key) == CAP
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=30)
            killed_at = time.monotonic()
            while True:  # the holder's leases run out within HOLDER_LEASE_S
                mark, refused = await _watch(tab, lambda: client.zcard(key) == 1)
                if not refused:
                    break
                assert time.monotonic() - killed_at < HOLDER_LEASE_S + 10, "slots leaked"
                await asyncio.sleep(0.5)
            assert client.zcard(key) == 1

    try:
        asyncio.run(scenario())
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
