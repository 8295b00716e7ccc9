"""Notification routes: channel CRUD with the outbound policy, masking of URL secrets, the
inbox (paged, unread filter, mark read), and who may do what (anonymous, other users,
oversized input)."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, ApiEnv

SECRET = "s3cr3tT0ken"
PUBLIC_URL = f"json://hook:{SECRET}@93.184.216.34:8443/path/{SECRET}?token={SECRET}"
"""A public literal address (no DNS needed) with a password, a path token and a query
token: none of them may ever come back."""


def _create(env: ApiEnv, headers: dict, **body) -> dict:
    resp = env.client.post(f"{API}/notifications/channels", headers=headers,
                           json={"name": "hook", "url": PUBLIC_URL, **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_channel_crud_masks_the_url(env: ApiEnv):
    """Create, list, get, patch: the URL is shown as scheme + host only, the secret never."""
    _, h = env.user("alice")
    made = _create(env, h, kinds=["execution_failed", "schedule_paused"])
    assert made["url_masked"] == "json://****@93.184.216.34:8443/****"
    assert made["kinds"] == ["execution_failed", "schedule_paused"] and made["enabled"]
    cid = made["id"]
    texts = [env.client.get(f"{API}/notifications/channels", headers=h).text,
             env.client.get(f"{API}/notifications/channels/{cid}", headers=h).text]
    patched = env.client.patch(f"{API}/notifications/channels/{cid}", headers=h,
                               json={"name": "renamed", "enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "renamed" and not patched.json()["enabled"]
    texts.append(patched.text)
    assert all(SECRET not in t for t in texts)
    assert len(env.client.get(f"{API}/notifications/channels", headers=h).json()) == 1
    assert env.client.delete(f"{API}/notifications/channels/{cid}",
                             headers=h).status_code == 204
    assert env.client.get(f"{API}/notifications/channels/{cid}", headers=h).status_code == 404


def _stored_urls(env: ApiEnv) -> list[str]:
    """The raw ``notification_channels.url`` column, oldest row first."""
    import sqlalchemy as sa

    from agentic_app.db.engine import get_engine

    with get_engine(env.db_url).connect() as conn:
        return [r[0] for r in conn.execute(sa.text(
            "SELECT url FROM notification_channels ORDER BY id"))]


def test_channel_url_is_stored_encrypted(any_env: ApiEnv):
    """On SQLite and PostgreSQL the stored column is ciphertext (no part of the URL in it) that
    the app's cipher opens to the URL; a changed URL is stored encrypted as well; no response
    carries the URL or its secret."""
    from agentic_app.db.channel_urls import channel_cipher, open_url

    env = any_env
    _, h = env.user("alice")
    made = _create(env, h)
    [stored] = _stored_urls(env)
    assert stored != PUBLIC_URL and SECRET not in stored and "93.184.216.34" not in stored
    cipher = channel_cipher(env.settings)
    assert open_url(cipher, stored) == PUBLIC_URL
    other = PUBLIC_URL.replace("/path/", "/other/")
    patched = env.client.patch(f"{API}/notifications/channels/{made['id']}", headers=h,
                               json={"url": other})
    assert patched.status_code == 200, patched.text
    [changed] = _stored_urls(env)
    assert changed != stored and "/other/" not in changed and SECRET not in changed
    assert open_url(cipher, changed) == other
    texts = [patched.text, env.client.get(f"{API}/notifications/channels", headers=h).text]
    assert all(SECRET not in t and "/other/" not in t for t in texts)
    assert patched.json()["url_masked"] == "json://****@93.184.216.34:8443/****"


def test_default_kinds_are_every_rule_kind(env: ApiEnv):
    """Without ``kinds`` a channel receives every alert kind the rules know."""
    _, h = env.user("alice")
    made = _create(env, h)
    kinds = env.client.get(f"{API}/notifications/kinds", headers=h).json()
    assert made["kinds"] == [k["name"] for k in kinds]
    assert {"execution_failed", "schedule_paused", "runs_missed", "schedule_invalid",
            "data_stale", "order_filled", "order_rejected", "order_alert_only",
            "daily_limit", "kill_switch"} == set(made["kinds"])


@pytest.mark.parametrize("url", [
    "json://127.0.0.1:8080/hook",
    "json://localhost/hook",
    "json://169.254.169.254/latest/meta-data",
    "json://[::1]/x",
    "json://0x7f.1/x",
    "json://2130706433/x",
    "jsons://10.0.0.5/x",
    "json://[::ffff:127.0.0.1]/x",
    "mailto://user:pw@93.184.216.34?smtp=192.168.1.1",
    "json://metadata.google.internal/x",
    "file:///etc/passwd",
    "syslog://93.184.216.34",
    "not a url",
])
def test_ssrf_targets_refused(env: ApiEnv, url: str):
    """Loopback, private, link-local/metadata addresses in any spelling, local names and
    schemes outside the allowlist: 422 naming ``url``, nothing created."""
    _, h = env.user("alice")
    resp = env.client.post(f"{API}/notifications/channels", headers=h,
                           json={"name": "x", "url": url})
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "url"
    assert env.client.get(f"{API}/notifications/channels", headers=h).json() == []


def test_patch_to_a_refused_url_changes_nothing(env: ApiEnv):
    """A PATCH with one bad field writes none of the fields."""
    _, h = env.user("alice")
    cid = _create(env, h)["id"]
    resp = env.client.patch(f"{API}/notifications/channels/{cid}", headers=h,
                            json={"name": "new", "url": "json://127.0.0.1/x"})
    assert resp.status_code == 422 and resp.json()["field"] == "url"
    assert env.client.get(f"{API}/notifications/channels/{cid}",
                          headers=h).json()["name"] == "hook"


@pytest.mark.parametrize("body, field", [
    ({"name": "x" * 101, "url": PUBLIC_URL}, "name"),
    ({"name": "", "url": PUBLIC_URL}, "name"),
    ({"name": "x", "url": "json://93.184.216.34/" + "a" * 2000}, "url"),
    ({"name": "x", "url": PUBLIC_URL, "kinds": ["nope"]}, "kinds"),
    ({"name": "x", "url": PUBLIC_URL, "kinds": ["test"]}, "kinds"),
    ({"name": "x", "url": PUBLIC_URL, "extra": 1}, "extra"),
])
def test_oversized_or_bad_input_422(env: ApiEnv, body: dict, field: str):
    """Oversized or unknown input: 422 naming the field, nothing created."""
    _, h = env.user("alice")
    resp = env.client.post(f"{API}/notifications/channels", headers=h, json=body)
    assert resp.status_code == 422, resp.text
    assert field in resp.text
    assert env.client.get(f"{API}/notifications/channels", headers=h).json() == []


def test_channel_cap(sqlite_db_url: str, redis_url: str):
    """ALERTS__MAX_CHANNELS_PER_USER bounds a user's channels (429 naming the limit)."""
    env = ApiEnv(sqlite_db_url, redis_url, ALERTS={"max_channels_per_user": 2})
    _, h = env.user("alice")
    _create(env, h)
    _create(env, h)
    resp = env.client.post(f"{API}/notifications/channels", headers=h,
                           json={"name": "third", "url": PUBLIC_URL})
    assert resp.status_code == 429 and resp.json()["limit"] == "max_channels_per_user"


def _emit(env: ApiEnv, user_id: int, n: int) -> list[int]:
    return [env.services.alerts.emit(user_id, "order_filled", f"Order {i} filled",
                                     f"body {i}", {"order_id": i}) for i in range(n)]


def test_inbox_paged_unread_and_mark_read(env: ApiEnv):
    """Newest first, paged; the unread filter and count follow read and read-all."""
    uid, h = env.user("alice")
    ids = _emit(env, uid, 5)
    page = env.client.get(f"{API}/notifications?limit=2&offset=1", headers=h).json()
    assert page["total"] == 5 and [i["id"] for i in page["items"]] == ids[::-1][1:3]
    assert page["items"][0]["refs"] == {"order_id": 3} and page["items"][0]["kind"] == \
        "order_filled"
    assert env.client.get(f"{API}/notifications/unread-count", headers=h).json() == {
        "unread": 5}
    resp = env.client.post(f"{API}/notifications/{ids[0]}/read", headers=h)
    assert resp.status_code == 200 and resp.json()["read"] is True
    unread = env.client.get(f"{API}/notifications?unread=true", headers=h).json()
    assert unread["total"] == 4 and ids[0] not in [i["id"] for i in unread["items"]]
    assert env.client.post(f"{API}/notifications/read-all", headers=h).json() == {"marked": 4}
    assert env.client.get(f"{API}/notifications/unread-count", headers=h).json() == {
        "unread": 0}


def test_other_users_objects_are_404(env: ApiEnv):
    """Another user's inbox entry or channel does not exist for you: read, get, patch,
    delete, test are 404 and change nothing."""
    alice, ha = env.user("alice")
    _, hb = env.user("bob")
    note = _emit(env, alice, 1)[0]
    cid = _create(env, ha)["id"]
    c = env.client
    assert c.post(f"{API}/notifications/{note}/read", headers=hb).status_code == 404
    assert c.get(f"{API}/notifications/channels/{cid}", headers=hb).status_code == 404
    assert c.patch(f"{API}/notifications/channels/{cid}", headers=hb,
                   json={"name": "x"}).status_code == 404
    assert c.delete(f"{API}/notifications/channels/{cid}", headers=hb).status_code == 404
    assert c.post(f"{API}/notifications/channels/{cid}/test", headers=hb).status_code == 404
    assert c.get(f"{API}/notifications", headers=hb).json()["total"] == 0
    assert c.post(f"{API}/notifications/read-all", headers=hb).json() == {"marked": 0}
    assert c.get(f"{API}/notifications/unread-count", headers=ha).json() == {"unread": 1}
    assert c.get(f"{API}/notifications/channels/{cid}", headers=ha).json()["name"] == "hook"


@pytest.mark.parametrize("method, path", [
    ("get", "/notifications"), ("get", "/notifications/unread-count"),
    ("post", "/notifications/1/read"), ("post", "/notifications/read-all"),
    ("get", "/notifications/channels"), ("post", "/notifications/channels"),
    ("get", "/notifications/channels/1"), ("patch", "/notifications/channels/1"),
    ("delete", "/notifications/channels/1"), ("post", "/notifications/channels/1/test"),
    ("get", "/notifications/kinds"),
])
def test_anonymous_refused(env: ApiEnv, method: str, path: str):
    """Every notification route needs a token."""
    resp = getattr(env.client, method)(f"{API}{path}")
    assert resp.status_code == 401


def test_emit_rejects_unknown_kind(env: ApiEnv):
    """The facade's emit names the field of an unknown kind and writes nothing."""
    from agentic_app.services.app import AgenticError

    uid, h = env.user("alice")
    with pytest.raises(AgenticError) as info:
        env.services.alerts.emit(uid, "nope", "x")
    assert info.value.field == "kind"
    assert env.client.get(f"{API}/notifications", headers=h).json()["total"] == 0


def test_channel_cap_exact_under_concurrency(db_url: str, redis_url: str):
    """Ten concurrent creates against a cap of 3 (SQLite and PostgreSQL): exactly 3 exist,
    the others are refused with the limit."""
    from concurrent.futures import ThreadPoolExecutor

    from agentic_app.services.app import Actor, AgenticError

    env = ApiEnv(db_url, redis_url, ALERTS={"max_channels_per_user": 3})
    uid, _ = env.user("alice")
    actor = Actor(uid, "alice")

    def create(i: int) -> str:
        try:
            env.services.alerts.channels.create(actor, name=f"c{i}", url=PUBLIC_URL)
            return "ok"
        except AgenticError as exc:
            return exc.field or "error"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(create, range(10)))
    assert outcomes.count("ok") == 3
    assert outcomes.count("max_channels_per_user") == 7
    assert len(env.services.alerts.channels.list(actor)) == 3
