"""Notification targets through the real interfaces: the REST API refuses a forbidden target
at save time (422 naming the URL's field), and a real RQ worker refuses it at send time."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import redis
from sqlmodel import select

from agentic_app.db.engine import Database, session_scope
from agentic_app.db.models import User, Workflow
from agentic_app.db.trading_models import Notification
from agentic_app.domain.outbound import TARGET_REFUSED
from agentic_app.domain.templates import get_template
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.rows import get_job
from agentic_app.settings import REPO_ROOT, load_settings
from tests.api.conftest import API, PRICE_TEMPLATE
from tests.security.conftest import Listener


def _alert_definition(*urls: str) -> dict:
    definition = copy.deepcopy(get_template(PRICE_TEMPLATE)["definition"])
    definition["nodes"][1]["params"]["apprise_urls"] = list(urls)
    return definition


def test_rest_save_refuses_forbidden_target_naming_the_field(env, listener: Listener):
    """POST and PUT of a workflow whose notification targets loopback (also spelled
    2130706433) or a private address: 422 naming ``nodes[1].params.apprise_urls[i]`` with
    "refused: target not allowed"; nothing is stored and the listener receives nothing."""
    _, alice = env.user("alice")
    body = {"name": "leak", "definition": _alert_definition(
        "json://hooks.example.com/ok", f"json://2130706433:{listener.port}/")}
    resp = env.client.post(f"{API}/workflows", json=body, headers=alice)
    assert resp.status_code == 422, resp.text
    problems = resp.json()["problems"]
    assert [p["field"] for p in problems] == ["nodes[1].params.apprise_urls[1]"]
    assert TARGET_REFUSED in problems[0]["message"]
    assert env.client.get(f"{API}/workflows", headers=alice).json()["total"] == 0
    wf = env.workflow(alice, PRICE_TEMPLATE)
    resp = env.client.put(f"{API}/workflows/{wf}", headers=alice, json={
        "definition": _alert_definition("mailto://u:p@example.com?smtp=10.0.0.5")})
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["field"] == "nodes[1].params.apprise_urls[0]"
    stored = env.client.get(f"{API}/workflows/{wf}", headers=alice).json()["definition"]
    assert "apprise_urls" not in stored["nodes"][1]["params"]
    assert listener.received_nothing


def test_rest_save_accepts_a_listed_private_host(env, listener: Listener, process_settings):
    """With the loopback port listed in OUTBOUND__ALLOWED_PRIVATE_HOSTS the same save works."""
    process_settings(OUTBOUND__ALLOWED_PRIVATE_HOSTS=[f"127.0.0.1:{listener.port}"])
    _, alice = env.user("alice")
    body = {"name": "ok", "definition": _alert_definition(f"json://127.0.0.1:{listener.port}/")}
    assert env.client.post(f"{API}/workflows", json=body, headers=alice).status_code == 201


def _run_worker(db_url: str, redis_url: str, **env_settings: object) -> None:
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, PYTHONPATH=str(REPO_ROOT))
    env.pop("OUTBOUND__ALLOWED_PRIVATE_HOSTS", None)
    env.update({k: json.dumps(v) for k, v in env_settings.items()})
    subprocess.run([sys.executable, "-m", "agentic_app", "worker", "--burst"], cwd=REPO_ROOT,
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                   check=True)


def test_worker_refuses_at_send_time(sqlite_db_url, redis_url, listener: Listener):
    """A workflow stored while its loopback target was allowed, run by a real worker once the
    allowance is gone: the execution reports "refused: target not allowed" and the listener
    receives nothing; a worker that has the allowance delivers to it."""
    url = f"json://127.0.0.1:{listener.port}/hook"
    with session_scope(sqlite_db_url) as s:
        user = User(username="ann", password_hash="!")
        s.add(user)
        s.flush()
        wf = Workflow(user_id=user.id, name="alert", definition={"nodes": [
            {"id": "notify", "type": "notification",
             "params": {"title": "Alert", "apprise_urls": [url]}}]})
        s.add(wf)
        s.flush()
        user_id, wf_id = user.id, wf.id
    settings = load_settings(database_url=sqlite_db_url, redis_url=redis_url)
    client = redis.Redis.from_url(redis_url)

    def run(**env_settings: object):
        job = enqueue_execution(db=Database(sqlite_db_url), redis=client, workflow_id=wf_id,
                                user_id=user_id, settings=settings)
        _run_worker(sqlite_db_url, redis_url, **env_settings)
        return get_job(Database(sqlite_db_url), job.id)

    refused = run()
    assert refused.status == "failed", refused
    assert TARGET_REFUSED in (refused.error_message or ""), refused.error_message
    assert listener.received_nothing
    delivered = run(OUTBOUND__ALLOWED_PRIVATE_HOSTS=[f"127.0.0.1:{listener.port}"])
    assert delivered.status == "completed", delivered
    assert [b["title"] for b in listener.json_bodies()] == ["Alert"]
    with session_scope(sqlite_db_url) as s:
        rows = list(s.exec(select(Notification)))
    node_rows = [r.delivered_to for r in rows if r.kind == "node"]
    assert node_rows == [[{"schema": "json", "ok": True}]]
    # the refused run failed for good: its owner got that alert (no channel: inbox only)
    assert [r.kind for r in rows if r.kind != "node"] == ["execution_failed"]
