"""Migration ``schedules_as_written`` on SQLite and PostgreSQL, with data in it: every schedule
and its history survive up and down; configs are made whole from the trigger node; the new
counters are counted from the history kept."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from agentic_app.db.engine import get_engine
from agentic_app.db.migrate import alembic_config

REVISION = "schedules_as_written"
NEW_COLUMNS = {"skip_next", "pause_note", "paused_at", "resume_at", "missed_count",
               "skipped_count", "failed_count"}
DEFINITION = {"nodes": [{"id": "t", "type": "schedule_trigger", "params": {
    "cron_expression": "0 9 * * *", "timezone": "Europe/Berlin", "timeout_seconds": 30}},
    {"id": "l", "type": "log", "params": {"message": "x"}}],
    "edges": [{"from": "t", "to": "l"}]}


def _columns(url: str) -> set[str]:
    get_engine.cache_clear()
    return {c["name"] for c in sa.inspect(get_engine(url)).get_columns("scheduled_jobs")}


def _seed(conn: sa.Connection) -> None:
    """At the revision before: a workflow with a cron node, two schedules of it (a cron one
    whose config leaves the timezone to the node, a price one), their history."""
    conn.execute(sa.text("INSERT INTO users (username, password_hash, is_active, is_admin, "
                         "created_at) VALUES ('u', 'x', true, false, CURRENT_TIMESTAMP)"))
    conn.execute(sa.text(
        "INSERT INTO workflows (user_id, name, description, definition, version, is_active, "
        "created_at, updated_at) SELECT id, 'w', '', :d, 1, true, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP FROM users"), {"d": json.dumps(DEFINITION)})
    for name, kind, config in (
            ("cron", "cron", {"cron_expression": "0 10 * * *", "priority": 5}),
            ("price", "price", {"symbol": "EURUSD", "condition": "price > 1.2"})):
        conn.execute(sa.text(
            "INSERT INTO scheduled_jobs (workflow_id, user_id, name, trigger_type, "
            "trigger_config, is_active, consecutive_failures, run_count, created_at, "
            "updated_at) SELECT w.id, w.user_id, :n, :k, :c, true, 0, 3, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP FROM workflows w"), {"n": name, "k": kind, "c": json.dumps(config)})
    cron = "(SELECT id FROM scheduled_jobs WHERE name = 'cron')"
    for fire, reason in (("2026-01-01 09:00:00", "downtime"), ("2026-01-02 09:00:00", "misfire"),
                         ("2026-01-03 09:00:00", "overlap"), ("2026-01-04 09:00:00", "refused")):
        conn.execute(sa.text(
            "INSERT INTO missed_runs (scheduled_job_id, fire_time, reason, detail, recorded_at) "
            f"SELECT {cron}, :f, :r, '', CURRENT_TIMESTAMP"), {"f": fire, "r": reason})
    for status in ("failed", "failed", "completed"):
        conn.execute(sa.text(
            "INSERT INTO job_queue (workflow_id, user_id, scheduled_job_id, status, priority, "
            "retry_count, max_retries, created_at, attempt) SELECT workflow_id, user_id, id, :s, "
            "0, 0, 3, CURRENT_TIMESTAMP, 1 FROM scheduled_jobs WHERE name = 'cron'"),
            {"s": status})


def _rows(url: str) -> dict[str, tuple]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT name, trigger_type, trigger_config, run_count "
                                    "FROM scheduled_jobs ORDER BY id")).all()
        missed = conn.execute(sa.text("SELECT count(*) FROM missed_runs")).scalar()
        queued = conn.execute(sa.text("SELECT count(*) FROM job_queue")).scalar()
    out = {}
    for name, kind, config, runs in rows:
        out[name] = (kind, config if isinstance(config, dict) else json.loads(config), runs)
    out["history"] = (missed, queued)
    return out


def test_up_and_down_with_data(empty_db_url):
    """Up: configs whole (timezone from the node, the request's cron kept, node-only params
    not copied), counters from history; down: new columns gone, every row kept."""
    url = empty_db_url
    cfg = alembic_config(url)
    before = ScriptDirectory.from_config(cfg).get_revision(REVISION).down_revision
    command.upgrade(cfg, before)
    with get_engine(url).begin() as conn:
        _seed(conn)
    command.upgrade(cfg, REVISION)
    assert NEW_COLUMNS <= _columns(url)
    rows = _rows(url)
    assert rows["cron"] == ("cron", {"cron_expression": "0 10 * * *", "priority": 5,
                                     "timezone": "Europe/Berlin"}, 3)
    assert rows["price"] == ("price", {"symbol": "EURUSD", "condition": "price > 1.2"}, 3)
    assert rows["history"] == (4, 3)
    with get_engine(url).connect() as conn:
        counts = conn.execute(sa.text(
            "SELECT name, missed_count, skipped_count, failed_count, skip_next "
            "FROM scheduled_jobs ORDER BY id")).all()
    assert [tuple(r) for r in counts] == [("cron", 2, 2, 2, 0), ("price", 0, 0, 0, 0)]
    command.downgrade(cfg, before)
    assert not NEW_COLUMNS & _columns(url)
    assert _rows(url) == rows
    command.upgrade(cfg, "head")
    assert NEW_COLUMNS <= _columns(url)
    assert _rows(url) == rows
