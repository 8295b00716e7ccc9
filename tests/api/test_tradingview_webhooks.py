"""TradingView-mode webhooks: the secret URL (or the body's secret field) accepts plain-text
and JSON alerts within 3 s, drops duplicates, refuses unfilled {{placeholders}}, wrong tokens
and secrets, oversized bodies and (when the job says so) senders other than TradingView's
addresses, believing X-Forwarded-For only from a configured proxy."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from agentic_app.domain.tradingview import TRADINGVIEW_SENDERS
from tests.api.conftest import API, ApiEnv

TV_IP = TRADINGVIEW_SENDERS[0]


def _tv_job(env, headers, **params) -> dict:
    wf = env.workflow(headers, definition={"nodes": [
        {"id": "hook", "type": "webhook_trigger",
         "params": {"mode": "tradingview", "max_body_bytes": 2048, **params}}]})
    job = env.schedule(headers, wf, "webhook")
    job["secret_url"] = f"{job['webhook_path']}/{job['webhook_secret']}"
    return job


def _jobs(env, headers) -> list[dict]:
    return env.client.get(f"{API}/queue/jobs", headers=headers).json()["items"]


def _payload(env, headers, execution_id: int) -> dict:
    return env.client.get(f"{API}/monitoring/executions/{execution_id}",
                          headers=headers).json()["trigger_payload"]


def test_plain_text_and_json_alerts(env):
    """A text/plain alert at the secret URL is 202 within 3 s and its text is the payload; a
    JSON alert at the plain URL with "secret" in the body is accepted, the secret not stored."""
    _, alice = env.user("alice")
    job = _tv_job(env, alice)
    started = time.perf_counter()
    resp = env.client.post(job["secret_url"], content=b"buy EURUSD at 1.1012",
                           headers={"Content-Type": "text/plain"})
    assert resp.status_code == 202, resp.text
    assert time.perf_counter() - started < 3.0
    text = _payload(env, alice, resp.json()["execution_id"])
    assert text["body"] == "buy EURUSD at 1.1012" and text["source"] == "tradingview"
    body = json.dumps({"ticker": "EURUSD", "action": "buy", "price": 1.1012,
                       "secret": job["webhook_secret"]})
    resp = env.client.post(job["webhook_path"], content=body,
                           headers={"Content-Type": "application/json"})
    assert resp.status_code == 202, resp.text
    stored = _payload(env, alice, resp.json()["execution_id"])
    assert stored["body"] == {"ticker": "EURUSD", "action": "buy", "price": 1.1012}
    assert job["webhook_secret"] not in json.dumps(stored)
    assert len(_jobs(env, alice)) == 2


def test_duplicate_alert_is_dropped(env):
    """The same body again within the window is 200 "duplicate" and enqueues nothing; a
    different body is accepted."""
    _, alice = env.user("alice")
    job = _tv_job(env, alice)
    first = env.client.post(job["secret_url"], content=b"buy EURUSD")
    again = env.client.post(job["secret_url"], content=b"buy EURUSD")
    other = env.client.post(job["secret_url"], content=b"sell EURUSD")
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 202)
    assert again.json() == {"accepted": False, "job_id": None, "execution_id": None,
                            "status": "duplicate"}
    assert len(_jobs(env, alice)) == 2


def test_unresolved_placeholder_is_refused(env):
    """A body still holding {{...}} is a 422 naming the placeholders; nothing enqueued, and
    the same body fixed is then accepted (a refused alert does not count as seen)."""
    _, alice = env.user("alice")
    job = _tv_job(env, alice)
    resp = env.client.post(job["secret_url"],
                           content=b'{"ticker": "EURUSD", "price": {{close}}, "t": "{{ time }}"}')
    assert resp.status_code == 422
    err = resp.json()
    assert err["field"] == "body" and "{{close}}" in err["detail"]
    assert "{{ time }}" in err["detail"]
    assert _jobs(env, alice) == []
    ok = env.client.post(job["secret_url"], content=b'{"ticker": "EURUSD", "price": 1.1}')
    assert ok.status_code == 202


def test_wrong_token_secret_and_other_modes(env):
    """Unknown token 404; wrong or missing secret 401; the secret URL of a non-TradingView
    job 404; a rotated secret ends the old URL."""
    _, alice = env.user("alice")
    job = _tv_job(env, alice)
    assert env.client.post(f"{API}/webhooks/nosuchtoken/x", content=b"a").status_code == 404
    assert env.client.post(f"{job['webhook_path']}/wrong", content=b"a").status_code == 401
    assert env.client.post(job["webhook_path"], content=b"a").status_code == 401
    hmac_wf = env.workflow(alice, definition={"nodes": [
        {"id": "hook", "type": "webhook_trigger", "params": {}}]})
    hmac_job = env.schedule(alice, hmac_wf, "webhook")
    resp = env.client.post(f"{hmac_job['webhook_path']}/{hmac_job['webhook_secret']}",
                           content=b"a")
    assert resp.status_code == 404
    rotated = env.client.post(f"{API}/scheduler/jobs/{job['id']}/webhook-secret/rotate",
                              headers=alice).json()["webhook_secret"]
    assert env.client.post(job["secret_url"], content=b"b").status_code == 401
    new_url = f"{job['webhook_path']}/{rotated}"
    assert env.client.post(new_url, content=b"b").status_code == 202
    assert len(_jobs(env, alice)) == 1


def test_oversized_body_is_refused(env):
    """A body over the job's limit is a 413 naming the body; nothing enqueued."""
    _, alice = env.user("alice")
    job = _tv_job(env, alice)
    resp = env.client.post(job["secret_url"], content=b"x" * 4096)
    assert resp.status_code == 413 and resp.json()["field"] == "body"
    huge = env.client.post(job["secret_url"], content=b"x" * (2 << 20))
    assert huge.status_code == 413
    assert _jobs(env, alice) == []


@pytest.mark.parametrize(("peer", "forwarded", "proxies", "status"), [
    (TV_IP, None, [], 202),                        # TradingView connecting directly
    ("203.0.113.9", None, [], 403),                # anyone else
    ("203.0.113.9", TV_IP, [], 403),               # a forged header from an untrusted peer
    ("10.1.2.3", TV_IP, ["10.0.0.0/8"], 202),      # behind the configured proxy
    ("10.1.2.3", f"{TV_IP}, 198.51.100.7", ["10.0.0.0/8"], 403),  # the proxy saw another
    ("10.1.2.3", "198.51.100.7, " + TV_IP, ["10.0.0.0/8"], 202),  # left-most is client's word
])
def test_sender_allowlist(sqlite_db_url, redis_url, peer, forwarded, proxies, status):
    """With senders="tradingview" only TradingView's addresses get in; X-Forwarded-For counts
    only when the connection comes from a configured trusted proxy."""
    env = ApiEnv(sqlite_db_url, redis_url, webhooks={"trusted_proxies": proxies})
    _, alice = env.user("alice")
    job = _tv_job(env, alice, senders="tradingview")
    client = TestClient(env.app, client=(peer, 40000))
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    resp = client.post(job["secret_url"], content=b"buy", headers=headers)
    assert resp.status_code == status, resp.text
    if status == 403:
        assert resp.json()["field"] == "client"
    assert len(_jobs(env, alice)) == (1 if status == 202 else 0)


def test_allowlist_needs_tradingview_mode(env):
    """senders="tradingview" on an HMAC job is a 422 naming the field."""
    _, alice = env.user("alice")
    resp = env.client.post(f"{API}/workflows", headers=alice, json={
        "name": "x", "definition": {"nodes": [{"id": "hook", "type": "webhook_trigger",
                                               "params": {"senders": "tradingview"}}]}})
    assert resp.status_code == 422 and "senders" in resp.text


def test_schedule_view_offers_url_and_message(env):
    """The job's webhook details: the secret URL masked after creation, shown on rotation,
    and the alert message to paste."""
    _, alice = env.user("alice")
    job = _tv_job(env, alice)
    view = env.services.triggers.webhook(env.services.schedules.get(
        env.services.auth.require(alice["Authorization"].split()[1]), job["id"]))
    assert view["mode"] == "tradingview" and view["url"].endswith("/••••••••")
    assert json.loads(view["message"])["price"] == "{{close}}"
    shown = env.services.triggers.webhook(
        env.services.schedules.get(env.services.auth.require(
            alice["Authorization"].split()[1]), job["id"]), secret=job["webhook_secret"])
    assert shown["url"].endswith(job["secret_url"])
