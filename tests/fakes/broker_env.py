"""Fixtures of the live-trading API tests: a fake Binance on loopback and the API pointed
at it (``BROKER__TEST_BASE_URL``), plus a user with a stored credential."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from tests.api.conftest import API, ApiEnv
from tests.fakes.fake_binance import FakeBinance

KEY, SECRET = "alice-binance-key-6789", "alice-binance-secret-XYZW"
CREDENTIAL = {"exchange": "binance", "api_key": KEY, "secret": SECRET, "label": "testnet"}


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    """A fake Binance on loopback; Alice's account holds 10 000 USDT and 1 BTC."""
    exchange = FakeBinance({KEY: SECRET}).start()
    exchange.fund(KEY, "USDT", 10_000.0)
    exchange.fund(KEY, "BTC", 1.0)
    yield exchange
    exchange.stop()


def api_env(db_url: str, redis_url: str, fake: FakeBinance) -> ApiEnv:
    """The API with its exchange URLs pointed at ``fake`` and a fresh credential key."""
    return ApiEnv(db_url, redis_url, market_feed="simulated", market_speed=1.0,
                  broker={"test_base_url": fake.base_url,
                          "credential_keys": [Fernet.generate_key().decode()],
                          "request_timeout_seconds": 5})


@pytest.fixture
def benv(sqlite_db_url: str, redis_url: str, fake: FakeBinance) -> ApiEnv:
    """The API on SQLite and the test Redis, its exchange URLs pointed at the fake."""
    return api_env(sqlite_db_url, redis_url, fake)


def alice_with_credential(env: ApiEnv) -> tuple[int, dict[str, str]]:
    """User alice with her fake-exchange credential stored; (id, auth headers)."""
    uid, headers = env.user("alice")
    resp = env.client.post(f"{API}/broker/credentials", json=CREDENTIAL, headers=headers)
    assert resp.status_code == 201, resp.text
    return uid, headers
