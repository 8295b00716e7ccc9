"""Live subscriptions per user are bounded (LIMITS max_live_subscriptions_per_user): through
the REST WebSockets, the subscription past the cap is closed with code 4429 and a message
naming the limit, another user is not affected, and closing one frees a slot."""

from __future__ import annotations

import time

from tests.api.conftest import API, ApiEnv


def _wait_open(env: ApiEnv, user_id: int, count: int) -> None:
    deadline = time.monotonic() + 10
    while env.services.live_slots.open_count(user_id) != count:
        assert time.monotonic() < deadline, (
            f"{env.services.live_slots.open_count(user_id)} open, expected {count}")
        time.sleep(0.05)


def test_live_subscriptions_capped_per_user(sqlite_db_url, redis_url):
    """Cap 2: two user-event streams open; the third is refused with 4429 naming the limit;
    bob still subscribes; after alice closes one, her next subscription is accepted."""
    env = ApiEnv(sqlite_db_url, redis_url, limits={"max_live_subscriptions_per_user": 2})
    alice_id, alice = env.user("alice")
    bob_id, bob = env.user("bob")
    url = f"{API}/monitoring/events"
    c = env.client
    with c.websocket_connect(url, headers=alice) as first:
        with c.websocket_connect(url, headers=alice):
            _wait_open(env, alice_id, 2)
            with c.websocket_connect(url, headers=alice) as third:
                refused = third.receive_json()
            assert refused["type"] == "error" and refused["code"] == 4429
            assert "LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER" in refused["detail"]
            with c.websocket_connect(url, headers=bob):
                _wait_open(env, bob_id, 1)
        _wait_open(env, alice_id, 1)  # the second one closed: its slot is free again
        with c.websocket_connect(url, headers=alice):
            _wait_open(env, alice_id, 2)
        del first
    _wait_open(env, alice_id, 0)


def test_default_live_cap_is_20(env):
    """The safe default."""
    assert env.settings.limits.max_live_subscriptions_per_user == 20
