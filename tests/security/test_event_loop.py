"""The backend's event loop keeps answering while it is attacked through the real WebSocket:
a signed-in tab sends the largest workflow the limits allow again and again, an anonymous tab
sends event after event, and ``GET /api/agentic/health`` answers throughout, none slower than
2 s (bench/loop_bench.py prints the p50/p99 of the same load)."""

from __future__ import annotations

import asyncio

from tests.security.conftest import Account
from tests.security.loop_load import run_load

SECONDS = 20.0
"""Bound of the run."""
LARGEST_SENDS = 20
"""Largest workflows the signed-in tab sends (each after the previous answer)."""
ANONYMOUS_SENDS = 200
"""Events the anonymous tab sends (each refused)."""
SLOWEST_MS = 2000.0
"""No health answer may take longer."""


def test_health_answers_while_the_event_loop_is_attacked(reflex_app, account: Account) -> None:
    """Every health request made during the attack answers 200 within 2 s, and the attack
    ran to its end: every largest workflow answered, every anonymous event refused."""
    result = asyncio.run(run_load(reflex_app.backend, account.token, account.workflow_id,
                                  seconds=SECONDS, big_count=LARGEST_SENDS,
                                  anon_count=ANONYMOUS_SENDS, health_timeout_s=SLOWEST_MS / 1000))
    figures = result.summary()
    assert result.health_failures == [], figures
    assert len(result.health_ms) >= 10, figures
    assert max(result.health_ms) < SLOWEST_MS, figures
    assert result.big_answered == LARGEST_SENDS, figures
    assert result.anon_refused == ANONYMOUS_SENDS, figures
