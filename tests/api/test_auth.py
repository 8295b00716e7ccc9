"""Auth routes: login (rate-limited per user and IP), logout, API tokens and revocation."""

from __future__ import annotations

from agentic_app.settings import LoginLimits
from tests.api.conftest import API, PASSWORD

MAX_FAILURES_PER_USER = LoginLimits().failures_per_user
MAX_FAILURES_PER_IP = LoginLimits().failures_per_ip


def _login(env, username: str, password: str):
    return env.client.post(f"{API}/auth/login",
                           json={"username": username, "password": password})


def test_login_logout(any_env):
    """Login gives a bearer session token that works until logout revokes it."""
    env = any_env
    env.user("alice")
    resp = _login(env, "alice", PASSWORD)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer" and body["expires_at"] and body["user"]["username"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert env.client.get(f"{API}/auth/me", headers=headers).json()["username"] == "alice"
    assert env.client.post(f"{API}/auth/logout", headers=headers).status_code == 204
    resp = env.client.get(f"{API}/auth/me", headers=headers)
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"


def test_wrong_password_then_rate_limit_per_user(env):
    """Wrong passwords are 401; after the per-user limit even the right one is 429 with
    Retry-After; another user from the same IP is not locked out yet."""
    env.user("alice")
    env.user("bob")
    for _ in range(MAX_FAILURES_PER_USER):
        resp = _login(env, "alice", "wrong")
        assert resp.status_code == 401 and resp.json()["field"] == "password"
    resp = _login(env, "alice", PASSWORD)
    assert resp.status_code == 429
    assert resp.json()["limit"] == "login_failures_per_user"
    assert 0 < int(resp.headers["retry-after"]) <= 300
    assert _login(env, "bob", PASSWORD).status_code == 200


def test_rate_limit_per_ip(env):
    """Failures spread over many usernames from one IP hit the per-IP limit."""
    env.user("carol")
    for i in range(MAX_FAILURES_PER_IP):
        assert _login(env, f"nobody{i}", "x").status_code == 401
    resp = _login(env, "carol", PASSWORD)
    assert resp.status_code == 429 and resp.json()["limit"] == "login_failures_per_ip"


def test_successful_login_resets_the_user_counter(env):
    """A success clears the user's failures: four more failures are still 401."""
    env.user("alice")
    for _ in range(MAX_FAILURES_PER_USER - 1):
        _login(env, "alice", "wrong")
    assert _login(env, "alice", PASSWORD).status_code == 200
    for _ in range(MAX_FAILURES_PER_USER - 1):
        assert _login(env, "alice", "wrong").status_code == 401


def test_api_tokens_create_list_use_revoke(env):
    """A created API token is shown once, listed without its secret, works, and stops
    working once revoked by id; revoking another user's token is 404."""
    c = env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    created = c.post(f"{API}/auth/tokens", headers=alice,
                     json={"name": "ci", "expires_in_days": 30})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("agt_") and token["kind"] == "api" and token["expires_at"]
    listed = c.get(f"{API}/auth/tokens", headers=alice).json()
    assert {t["name"] for t in listed["items"]} == {"test", "ci"}
    assert all("token" not in t for t in listed["items"])
    mine = {"Authorization": f"Bearer {token['token']}"}
    assert c.get(f"{API}/auth/me", headers=mine).status_code == 200
    assert c.delete(f"{API}/auth/tokens/{token['id']}", headers=bob).status_code == 404
    assert c.get(f"{API}/auth/me", headers=mine).status_code == 200
    assert c.delete(f"{API}/auth/tokens/{token['id']}", headers=alice).status_code == 204
    assert c.get(f"{API}/auth/me", headers=mine).status_code == 401
    revoked = c.get(f"{API}/auth/tokens?include_revoked=true", headers=alice).json()
    assert any(t["id"] == token["id"] and t["revoked"] for t in revoked["items"])
