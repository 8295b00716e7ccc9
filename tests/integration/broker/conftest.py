"""Fixtures of the live broker tests: a fake Binance on loopback, users, brokers on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session

from agentic_app.broker.exchanges import build_client
from agentic_app.broker.live import LiveBroker
from agentic_app.db.engine import Database
from agentic_app.db.models import User
from tests.fakes.fake_binance import FakeBinance

KEY, SECRET = "alice-key-0123456789", "alice-secret-abcdefghij"
OTHER_KEY, OTHER_SECRET = "bob-key-0123456789", "bob-secret-abcdefghij"


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    """A fake Binance spot API on a free loopback port; Alice has 10 000 USDT and 1 BTC."""
    exchange = FakeBinance({KEY: SECRET, OTHER_KEY: OTHER_SECRET}).start()
    exchange.fund(KEY, "USDT", 10_000.0)
    exchange.fund(KEY, "BTC", 1.0)
    exchange.fund(OTHER_KEY, "USDT", 10_000.0)
    yield exchange
    exchange.stop()


@pytest.fixture
def users(sqlite_db_url: str) -> tuple[Database, int, int]:
    """The migrated SQLite database and two users (alice, bob)."""
    return _users(sqlite_db_url)


def _users(url: str) -> tuple[Database, int, int]:
    db = Database(url)
    with Session(db.engine) as session:
        alice, bob = User(username="alice", password_hash="x"), User(username="bob",
                                                                      password_hash="x")
        session.add_all([alice, bob])
        session.commit()
        return db, int(alice.id), int(bob.id)  # type: ignore[arg-type]


def make_broker(fake: FakeBinance, db: Database, user_id: int, *, key: str = KEY,
                secret: str = SECRET, timeout: float = 5.0, **kwargs: Any) -> LiveBroker:
    """A live broker for ``user_id`` on the fake exchange (sandbox, test base URL)."""
    client = build_client("binance", api_key=key, secret=secret, sandbox=True,
                          timeout_seconds=timeout, test_base_url=fake.base_url)
    return LiveBroker(db, client, exchange_id="binance", user_id=user_id, **kwargs)
