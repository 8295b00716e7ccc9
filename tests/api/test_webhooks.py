"""POST /webhooks/{token}: signed deliveries accepted (202, enqueued), every rejection."""

from __future__ import annotations

import json
import time

from agentic_app.domain.webhook_signing import DELIVERY_HEADER, SIGNATURE_HEADER, signature_header
from tests.api.conftest import API


def _webhook_job(env, headers) -> dict:
    wf = env.workflow(headers, definition={"nodes": [
        {"id": "hook", "type": "webhook_trigger", "params": {"max_body_bytes": 2048}}]})
    return env.schedule(headers, wf, "webhook")


def test_signed_delivery_is_accepted_and_enqueued(any_env):
    """A correctly signed delivery is 202 with the job id; the execution carries the body."""
    env = any_env
    _, alice = env.user("alice")
    job = _webhook_job(env, alice)
    assert job["webhook_secret"].startswith("whsec_")
    body = json.dumps({"ticker": "EURUSD", "action": "buy"}).encode()
    headers = {SIGNATURE_HEADER: signature_header(job["webhook_secret"], int(time.time()), body),
               DELIVERY_HEADER: "d-1", "Content-Type": "application/json"}
    started = time.perf_counter()
    resp = env.client.post(job["webhook_path"], content=body, headers=headers)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    assert accepted["status"] == "pending" and elapsed < 3.0
    ex = env.client.get(f"{API}/monitoring/executions/{accepted['execution_id']}",
                        headers=alice).json()
    assert ex["trigger_type"] == "webhook" and ex["trigger_payload"]["body"]["ticker"] == "EURUSD"
    replay = env.client.post(job["webhook_path"], content=body, headers=headers)
    assert replay.status_code == 409


def test_webhook_rejections(env):
    """Bad or missing signature 401, unknown token 404, body over the job's limit 413."""
    _, alice = env.user("alice")
    job = _webhook_job(env, alice)
    body = b'{"a": 1}'
    bad = {SIGNATURE_HEADER: signature_header("whsec_wrong", int(time.time()), body)}
    assert env.client.post(job["webhook_path"], content=body, headers=bad).status_code == 401
    assert env.client.post(job["webhook_path"], content=body).status_code == 401
    assert env.client.post(f"{API}/webhooks/nosuchtoken", content=body).status_code == 404
    big = b"x" * 4096
    signed = {SIGNATURE_HEADER: signature_header(job["webhook_secret"], int(time.time()), big)}
    resp = env.client.post(job["webhook_path"], content=big, headers=signed)
    assert resp.status_code == 413 and resp.json()["field"] == "body"
    assert env.client.get(f"{API}/queue/jobs", headers=alice).json()["total"] == 0
