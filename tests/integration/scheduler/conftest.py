"""Fixtures for scheduler tests: a migrated DB, a user, workflows with each trigger node."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from agentic_app.db.engine import session_scope
from agentic_app.db.models import Workflow
from agentic_app.market.base import Bars, Quote
from agentic_app.services.app import Actor, AppServices
from agentic_app.settings import REPO_ROOT, load_settings


@dataclass
class Env:
    """Database, Redis, settings, the facade, and the user a test acts as."""

    db: str
    redis: str
    settings: object
    app: AppServices
    actor: Actor

    @property
    def user_id(self) -> int:
        """The acting user's id."""
        return self.actor.id

    def workflow(self, trigger: dict, name: str = "wf") -> int:
        """Create a workflow whose trigger node is ``trigger`` followed by a log node."""
        definition = {"nodes": [{"id": "t", **trigger},
                                {"id": "l", "type": "log", "params": {"message": "ran"}}],
                      "edges": [{"from": "t", "to": "l"}]}
        with session_scope(self.db) as s:
            wf = Workflow(user_id=self.user_id, name=name, definition=definition)
            s.add(wf)
            s.flush()
            return wf.id


@pytest.fixture
def env(sqlite_db_url, redis_url) -> Env:
    """A fresh scheduler environment on SQLite and the test Redis; every-second cron jobs are
    allowed (SCHEDULES allow_seconds_cron, min_period_seconds 1) so fires come fast."""
    settings = load_settings(database_url=sqlite_db_url, redis_url=redis_url,
                             schedules={"allow_seconds_cron": True, "min_period_seconds": 1})
    app = AppServices(settings, redis_url=redis_url)
    return Env(sqlite_db_url, redis_url, settings, app,
               app.users.create(username="ann", password="not-a-secret-42"))


@pytest.fixture
def worker(env):
    """One real worker process on the test database and Redis (realistic market, real time)."""
    child = dict(os.environ, DATABASE_URL=env.db, REDIS_URL=env.redis, MARKET_FEED="simulated",
                 MARKET_SPEED="1")
    proc = subprocess.Popen([sys.executable, "-m", "agentic_app", "worker"], cwd=REPO_ROOT,
                            env=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


class PathFeed:
    """A market stand-in: the price of each symbol is looked up in a time-indexed path."""

    def __init__(self, start: datetime, step_s: float, path: dict[str, list[float]]):
        self.start, self.step_s, self.path = start, step_s, path

    def _at(self, symbol: str, at: datetime) -> float:
        i = round((at - self.start).total_seconds() / self.step_s)
        series = self.path[symbol]
        return series[max(0, min(i, len(series) - 1))]

    def prices(self, symbols, at=None):
        """Quotes at ``at`` (fresh timestamps)."""
        return {s: Quote(s, self._at(s, at), at) for s in symbols}

    def price(self, symbol, at=None):
        """One quote."""
        return Quote(symbol, self._at(symbol, at), at)

    def bars(self, symbol, timeframe, count, end=None):
        """Flat one-minute bars, one per path step, step ``k`` closing at ``start + k*step``
        (the path's steps must be one minute long and start on a minute)."""
        assert timeframe == "1m" and self.step_s == 60 and self.start.second == 0
        series = self.path[symbol]
        i = math.floor((end - self.start).total_seconds() / self.step_s + 1e-9)
        ks = [k for k in range(max(0, i - count + 1), i + 1) if k < len(series)]
        px = np.array([series[k] for k in ks], float)
        ts = np.array([int(self.start.timestamp() + 60 * (k - 1)) for k in ks], np.int64)
        return Bars(symbol, "1m", ts, px, px, px, px, np.ones(len(ks)))

    def instrument(self, symbol):
        """Every symbol exists."""
        from agentic_app.market.instruments import DEFAULT_BY_SYMBOL

        return DEFAULT_BY_SYMBOL[symbol]


def next_minute(when: datetime) -> datetime:
    """The first whole minute after ``when`` (where a PathFeed may start)."""
    return (when + timedelta(seconds=60)).replace(second=0, microsecond=0)


class ManualClock:
    """A settable clock for the scheduler's ``now``."""

    def __init__(self, when: datetime):
        self.when = when

    def __call__(self) -> datetime:
        return self.when

    def advance(self, seconds: float) -> datetime:
        """Move forward and return the new time."""
        self.when += timedelta(seconds=seconds)
        return self.when


T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
"""A fixed start time for clock-driven tests."""
