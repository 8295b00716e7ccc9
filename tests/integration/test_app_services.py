"""The application facade: ownership is checked in it for every front end, it owns one set
of clients per process (rebuilt in a forked child), and a missing Redis is a clear 503."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os

import pytest
from sqlmodel import select

from agentic_app.db.models import ApiToken, JobQueueEntry, ScheduledJob, Workflow
from agentic_app.domain.errors import ForbiddenError, NotFoundError, ServiceUnavailableError
from agentic_app.domain.templates import get_template
from agentic_app.services.app import Actor, AppServices
from agentic_app.settings import load_settings

PRICE_TEMPLATE = "EURUSD Price Alert"


@pytest.fixture
def app(sqlite_db_url, redis_url) -> AppServices:
    """A facade on a migrated SQLite database and the test Redis."""
    return AppServices(load_settings(database_url=sqlite_db_url, redis_url=redis_url),
                       redis_url=redis_url)


@pytest.fixture
def world(app):
    """Alice's workflow, scheduled job, queued job (+ execution) and API token; Bob."""
    alice = app.users.create(username="alice", password="not-a-secret-42")
    bob = app.users.create(username="bob", password="not-a-secret-42")
    template = get_template(PRICE_TEMPLATE)
    wf = app.workflows.create(alice, name="mine",
                              definition=copy.deepcopy(template["definition"]))
    sched = app.schedules.create(alice, workflow_id=wf.id, trigger_type="price")
    job = app.workflows.run_now(alice, wf.id)
    token_row, _ = app.tokens.create(alice, name="extra")
    return alice, bob, {"workflow": wf.id, "schedule": sched.id, "job": job.id,
                        "execution": job.execution_id, "token": token_row.id}


def _rows(app) -> dict:
    with app.db.session() as s:
        return {model.__name__: [r.model_dump() for r in s.exec(select(model))]
                for model in (Workflow, ScheduledJob, JobQueueEntry, ApiToken)}


def test_every_service_hides_another_users_objects(app, world):
    """Bob naming Alice's ids gets NotFoundError from every service, and nothing of hers
    changes; his lists are empty."""
    _alice, bob, ids = world
    before = _rows(app)
    calls = [
        lambda: app.workflows.get(bob, ids["workflow"]),
        lambda: app.workflows.update(bob, ids["workflow"], name="hijacked"),
        lambda: app.workflows.delete(bob, ids["workflow"]),
        lambda: app.workflows.run_now(bob, ids["workflow"]),
        lambda: app.triggers.workflow_trigger(bob, ids["workflow"]),
        lambda: app.triggers.set_trigger(bob, ids["workflow"], trigger_type="cron",
                                         params={"cron_expression": "0 9 * * *"}),
        lambda: app.triggers.schedule(bob, trigger_type="cron", workflow_id=ids["workflow"],
                                      form={"cron_expression": "0 9 * * *"}),
        lambda: app.triggers.reschedule(bob, ids["schedule"], form={"condition": "price > 2"}),
        lambda: app.schedules.get(bob, ids["schedule"]),
        lambda: app.schedules.update(bob, ids["schedule"], name="hijacked"),
        lambda: app.schedules.toggle(bob, ids["schedule"]),
        lambda: app.schedules.run_now(bob, ids["schedule"]),
        lambda: app.schedules.history(bob, ids["schedule"]),
        lambda: app.schedules.delete(bob, ids["schedule"]),
        lambda: app.queue.get(bob, ids["job"]),
        lambda: app.queue.cancel(bob, ids["job"]),
        lambda: app.queue.retry(bob, ids["job"]),
        lambda: app.monitoring.get(bob, ids["execution"]),
        lambda: app.monitoring.timeline(bob, ids["execution"]),
        lambda: app.monitoring.metrics(bob, ids["execution"]),
        lambda: app.tokens.revoke(bob, ids["token"]),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()
    assert [r["outcome"] for r in app.queue.bulk_cancel(bob, [ids["job"]])] == ["not_found"]
    assert [r["outcome"] for r in app.queue.bulk_retry(bob, [ids["job"]])] == ["not_found"]
    assert app.schedules.last_runs(bob, [ids["schedule"]]) == {}
    assert app.workflows.list(bob) == [] and app.schedules.list(bob)[1] == 0
    assert app.queue.list(bob)[1] == 0 and app.monitoring.list(bob)[1] == 0
    assert app.queue.ids(bob, status="pending") == []
    assert _rows(app) == before


def test_streams_check_ownership_before_any_event(app, world):
    """Another user's execution stream raises NotFoundError before yielding anything, and
    his user-wide stream filters out events of executions that are not his."""
    alice, bob, ids = world

    async def first_event(actor: Actor):
        stream = app.monitoring.stream_execution(actor, ids["execution"])
        async with contextlib.aclosing(stream) as events:
            async for event in events:
                return event
        return None

    with pytest.raises(NotFoundError):
        asyncio.run(first_event(bob))
    events = [{"execution_id": ids["execution"], "seq": 1}]
    assert app.monitoring.owned_events(bob, events) == []
    assert app.monitoring.owned_events(alice, events) == events


def test_admin_only_methods(app, world):
    """A user who is not an admin is refused the Prometheus scrape and creating accounts
    (nothing created); an admin gets the scrape."""
    _alice, bob, _ids = world
    with pytest.raises(ForbiddenError):
        app.metrics.render(bob)
    with pytest.raises(ForbiddenError):
        app.users.create_by(bob, username="mallory", password="a long unusual phrase")
    assert app.users.by_name("mallory") is None
    admin = app.users.create(username="root", password="not-a-secret-42", is_admin=True)
    assert b"agentic_queue_depth" in app.metrics.render(admin)


def test_no_redis_is_service_unavailable(sqlite_db_url):
    """Without a Redis, actions that need one raise ServiceUnavailableError (HTTP 503)
    naming redis, and nothing is written; read-only views still answer."""
    app = AppServices(load_settings(database_url=sqlite_db_url), redis_url=lambda: None)
    alice = app.users.create(username="alice", password="not-a-secret-42")
    wf = app.workflows.create(alice, name="w",
                              definition=copy.deepcopy(get_template(PRICE_TEMPLATE)["definition"]))
    with pytest.raises(ServiceUnavailableError) as err:
        app.workflows.run_now(alice, wf.id)
    assert err.value.field == "redis"
    with pytest.raises(ServiceUnavailableError):
        app.queue.bulk_retry(alice, [1])
    assert app.queue.list(alice)[1] == 0
    assert app.queue.status(alice)["redis_ok"] is False


def test_one_facade_per_process_rebuilt_after_fork(monkeypatch, sqlite_db_url):
    """for_process() returns the same facade in a process; a forked child gets its own."""
    from agentic_app.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", sqlite_db_url)
    get_settings.cache_clear()
    try:
        parent = AppServices.for_process()
        assert AppServices.for_process() is parent
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report whether it got a new facade, then leave at once
            child = AppServices.for_process()
            ok = child is not parent and AppServices.for_process() is child
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.waitpid(pid, 0)
        assert answer == b"1"
        assert AppServices.for_process() is parent
    finally:
        get_settings.cache_clear()


def test_one_shared_pubsub_connection_per_event_loop(app, redis_url):
    """Within an event loop every live stream gets the same hub; another loop its own."""

    async def hubs():
        return app.live_hub(redis_url), app.live_hub(redis_url)

    first, again = asyncio.run(hubs())
    assert first is again
    other, _ = asyncio.run(hubs())
    assert other is not first
