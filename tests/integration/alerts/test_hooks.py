"""The engine's own alerts, raised where the facts are recorded: missed runs, a fire refused
by the daily cap, a new config error (once per distinct problem), and none for a fire
outside the schedule's trading session; each is an inbox entry plus a delivery pushed to RQ
for every channel routing its kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis as redis_lib
from rq import Queue
from sqlmodel import select

from agentic_app.db.alert_models import NotificationDelivery
from agentic_app.db.engine import session_scope
from agentic_app.db.models import ScheduledJob
from agentic_app.db.trading_models import Notification
from agentic_app.domain.triggers import parse_trigger_config
from agentic_app.engine.alerts.emit import ALERT_QUEUE
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.scheduler import store
from agentic_app.engine.scheduler.firing import enqueue_fire
from agentic_app.services.app import Actor
from tests.integration.alerts.conftest import AlertEnv
from tests.integration.queue.conftest import record_workflow

CRON = {"cron_expression": "0 0 * * *"}


def _setup(aenv: AlertEnv, kinds: list[str] | None = None) -> tuple[int, int, int]:
    uid = aenv.user("alice")
    aenv.app.alerts.channels.create(Actor(uid, "alice"), name="hook",
                                    url="json://93.184.216.34/hook", kinds=kinds)
    wf = aenv.workflow(uid, record_workflow())
    with session_scope(aenv.db_url) as s:
        row = ScheduledJob(workflow_id=wf, user_id=uid, name="nightly", trigger_type="cron",
                           trigger_config=CRON)
        s.add(row)
        s.flush()
        return uid, wf, row.id


def _alerts(aenv: AlertEnv) -> list[tuple[str, str]]:
    with session_scope(aenv.db_url) as s:
        return [(n.kind, n.title) for n in s.exec(select(Notification).order_by(Notification.id))]


def _pushed(aenv: AlertEnv) -> int:
    with session_scope(aenv.db_url) as s:
        deliveries = len(s.exec(select(NotificationDelivery.id)).all())
    queue = Queue(ALERT_QUEUE, connection=redis_lib.Redis.from_url(aenv.redis_url))
    assert queue.count == deliveries  # each delivery pushed once, right after the commit
    return deliveries


def test_missed_runs_alert_once_per_new_record(aenv: AlertEnv):
    """Two fire times recorded missed: one alert naming both; recording them again adds
    nothing and alerts nothing."""
    _, _, sj = _setup(aenv)
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    fires = [t0, t0 + timedelta(days=1)]
    kw = {"keep": 100, "redis": aenv.redis, "settings": aenv.settings}
    assert store.record_missed(aenv.db, sj, fires, "downtime", "scheduler was down", **kw) == 2
    assert store.record_missed(aenv.db, sj, fires, "downtime", "scheduler was down", **kw) == 0
    assert _alerts(aenv) == [("runs_missed", "2 runs of schedule 'nightly' missed")]
    assert _pushed(aenv) == 1


def test_daily_cap_refusal_alerts_daily_limit(aenv: AlertEnv):
    """A fire refused by LIMITS__MAX_EXECUTIONS_PER_DAY raises a daily_limit alert (not a
    generic missed run) to a channel routing only that kind."""
    aenv.configure(limits={"max_executions_per_day": 1})
    uid, wf, sj = _setup(aenv, kinds=["daily_limit"])
    settings = aenv.settings
    enqueue_execution(db=aenv.db, redis=aenv.redis, workflow_id=wf, user_id=uid,
                      settings=settings)
    config = parse_trigger_config("cron", CRON)
    fired = enqueue_fire(aenv.db, aenv.redis, settings, store.load_job(aenv.db, sj), config,
                         datetime.now(UTC).replace(microsecond=0), {})
    assert fired == 0
    kinds = [k for k, _ in _alerts(aenv)]
    assert kinds == ["daily_limit"]
    assert _pushed(aenv) == 1


def test_config_error_alerts_once_per_distinct_problem(aenv: AlertEnv):
    """The same problem stored again alerts nothing; a different one alerts again; clearing
    alerts nothing."""
    _, _, sj = _setup(aenv)
    kw = {"redis": aenv.redis, "settings": aenv.settings}
    store.set_config_error(aenv.db, sj, "invalid config: bad cron", **kw)
    store.set_config_error(aenv.db, sj, "invalid config: bad cron", **kw)
    store.set_config_error(aenv.db, sj, None, **kw)
    store.set_config_error(aenv.db, sj, "evaluation failed: feed down", **kw)
    assert [k for k, _ in _alerts(aenv)] == ["schedule_invalid", "schedule_invalid"]
    assert _pushed(aenv) == 2


def test_channel_rules_route_kinds(aenv: AlertEnv):
    """A channel gets deliveries only for the kinds its rule selects; the inbox gets all."""
    uid, _, sj = _setup(aenv, kinds=["order_filled"])
    aenv.app.alerts.emit(uid, "order_rejected", "rejected")
    aenv.app.alerts.emit(uid, "order_filled", "filled", scheduled_job_id=sj)
    with session_scope(aenv.db_url) as s:
        kinds = [d.kind for d in s.exec(select(NotificationDelivery))]
    assert kinds == ["order_filled"]
    assert len(_alerts(aenv)) == 2


def test_retention_purges_old_alerts_with_their_deliveries(aenv: AlertEnv):
    """run_retention removes inbox entries older than RETENTION__FAILED_DAYS and their
    deliveries; newer ones stay."""
    from agentic_app.engine.queue.retention import run_retention

    uid, _, _ = _setup(aenv)
    old = aenv.app.alerts.emit(uid, "order_filled", "old fill")
    aenv.app.alerts.emit(uid, "order_filled", "new fill")
    with session_scope(aenv.db_url) as s:
        row = s.get(Notification, old)
        row.created_at = datetime.now(UTC) - timedelta(days=31)
        s.add(row)
    counts = run_retention(aenv.settings)
    assert counts["alerts"] == 1
    assert [t for _, t in _alerts(aenv)] == ["new fill"]
    with session_scope(aenv.db_url) as s:
        assert len(s.exec(select(NotificationDelivery)).all()) == 1


def test_notification_node_rows_nudge_the_bell(aenv: AlertEnv):
    """A notification node's inbox row (written by the executor's notifier) is announced on
    the user's inbox channel, so open bells update without polling."""
    import json
    import time

    from agentic_app.domain.alerts import inbox_channel
    from agentic_app.engine.executor.notifier import Notifier, inbox_nudge

    uid = aenv.user("alice")
    client = redis_lib.Redis.from_url(aenv.redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(inbox_channel(uid))
    pubsub.get_message(timeout=1.0)
    notifier = Notifier(aenv.db, aenv.settings.outbound.policy(),
                        on_inbox=inbox_nudge(lambda: client))
    notifier.notify(user_id=uid, title="EURUSD above 1.10")
    deadline, message = time.monotonic() + 5, None
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
    assert message is not None and json.loads(message["data"])["type"] == "inbox"
    assert aenv.app.alerts.unread_count(Actor(uid, "alice")) == 1
    pubsub.close()
