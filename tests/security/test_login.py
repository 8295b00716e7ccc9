"""Login through the REST API: growing delays instead of a lockout, atomic counting under
parallel attempts, the same work for unknown and known names, and the password policy."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import argon2
import pytest

from agentic_app.services import passwords
from agentic_app.settings import LoginLimits
from tests.api.conftest import API, PASSWORD, ApiEnv

FREE = LoginLimits().failures_per_user


def _login(env, username: str, password: str):
    return env.client.post(f"{API}/auth/login", json={"username": username, "password": password})


def test_five_bad_passwords_delay_but_never_lock_the_victim(env):
    """After the free failures the next attempt waits (429, Retry-After 1 s); once the delay
    is over the right password works. Each further failure doubles the delay (2 s)."""
    env.user("victim")
    for _ in range(FREE):
        assert _login(env, "victim", "guess-guess").status_code == 401
    resp = _login(env, "victim", PASSWORD)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert resp.json()["limit"] == "login_failures_per_user"
    time.sleep(1.1)
    assert _login(env, "victim", PASSWORD).status_code == 200
    for _ in range(FREE):
        assert _login(env, "victim", "guess-guess").status_code == 401
    time.sleep(1.1)
    assert _login(env, "victim", "guess-guess").status_code == 401
    resp = _login(env, "victim", PASSWORD)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "2"
    time.sleep(2.1)
    assert _login(env, "victim", PASSWORD).status_code == 200


def test_parallel_attempts_cannot_exceed_the_free_failures(env):
    """Twenty wrong passwords sent at once: at most the free failures are checked (401), the
    others are throttled (429) - counting is atomic, not check-then-increment."""
    env.user("target")
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda _: _login(env, "target", "guess-guess").status_code,
                              range(20)))
    assert codes.count(401) == FREE, codes
    assert codes.count(429) == 20 - FREE


def test_successes_do_not_count_against_the_client_address(sqlite_db_url, redis_url):
    """More successful logins from one address than its free failures never throttle it
    (each success gives the address its attempt back); failures from it still count."""
    env = ApiEnv(sqlite_db_url, redis_url, login={"failures_per_ip": 2})
    env.user("alice")
    for _ in range(4):
        assert _login(env, "alice", PASSWORD).status_code == 200
    for name in ("x1", "x2"):
        assert _login(env, name, "guess-guess").status_code == 401
    resp = _login(env, "alice", PASSWORD)
    assert resp.status_code == 429 and resp.json()["limit"] == "login_failures_per_ip"


class CountingHasher:
    """Wraps the app's argon2 hasher and records the hashes it verifies against."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return self.real.verify(password_hash, password)

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def test_unknown_username_does_the_same_hashing_work(env, monkeypatch):
    """An unknown name is hashed against a dummy argon2 hash with the real hashes'
    parameters, exactly once, like a known name with a wrong password; both answer the
    same 401, and the unknown name is not measurably faster."""
    env.user("alice")
    spy = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", spy)
    unknown = _login(env, "nobody-here", "guess-guess")
    assert len(spy.verified) == 1
    known = _login(env, "alice", "guess-guess")
    assert len(spy.verified) == 2
    assert unknown.status_code == known.status_code == 401
    assert unknown.json() == known.json()
    dummy, real = (argon2.extract_parameters(h) for h in spy.verified)
    assert dummy == real

    def timed(name: str) -> float:
        start = time.perf_counter()
        assert _login(env, name, "guess-guess").status_code == 401
        return time.perf_counter() - start

    unknown_s = statistics.median(timed(f"ghost{i}") for i in range(3))
    known_s = statistics.median(timed("alice") for _ in range(3))
    assert unknown_s > 0.5 * known_s, (unknown_s, known_s)


@pytest.mark.parametrize(("password", "why"), [
    ("short-pw1", "at least 10 characters"),
    ("qwertyuiop", "most common"),
    ("Password123", "most common"),
    ("1234567890", "most common"),
    ("Charlie-Brown", "username"),
])
def test_password_policy_is_422_naming_password(env, password, why):
    """Creating an account with a short, very common or username-equal password is 422
    naming ``password``; nothing is created (the name is still free afterwards)."""
    _, admin = env.user("root-admin", admin=True)
    body = {"username": "charlie-brown", "password": password}
    resp = env.client.post(f"{API}/auth/users", json=body, headers=admin)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "password" and why in resp.json()["detail"]
    body["password"] = "a long unusual phrase"
    created = env.client.post(f"{API}/auth/users", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["username"] == "charlie-brown"
    assert _login(env, "charlie-brown", "a long unusual phrase").status_code == 200


def test_only_admins_create_accounts(env):
    """A non-admin creating an account is 403 and nothing is created."""
    _, bob = env.user("bob")
    body = {"username": "mallory", "password": "a long unusual phrase"}
    assert env.client.post(f"{API}/auth/users", json=body, headers=bob).status_code == 403
    assert _login(env, "mallory", "a long unusual phrase").status_code == 401


def test_seeded_demo_account_keeps_its_short_password(env, tmp_path):
    """The seeded local-mode demo account still logs in with DEMO_PASSWORD 'demo' (the only
    account exempt from the policy); creating an account with it is refused."""
    from agentic_app.services.app import AppServices
    from agentic_app.settings import load_settings

    AppServices(load_settings(database_url=env.db_url, data_dir=tmp_path)).demo.seed()
    assert _login(env, "demo", "demo").status_code == 200
    _, admin = env.user("root-admin", admin=True)
    resp = env.client.post(f"{API}/auth/users", headers=admin,
                           json={"username": "demo2", "password": "demo"})
    assert resp.status_code == 422 and resp.json()["field"] == "password"
