"""Migration alert_only_mode on SQLite and PostgreSQL: down keeps the rows, up adds the
flags back (false) and an empty alert_orders table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from agentic_app.db.engine import get_engine
from agentic_app.db.migrate import alembic_config
from tests.integration.test_migrations import _seed_user_and_workflow

FLAGGED = ("workflows", "scheduled_jobs", "workflow_executions")


def test_alert_only_flags_down_and_up(db_url):
    """Downgrading to the revision before drops the three flags and alert_orders, keeping workflows,
    schedules and executions; upgrading adds them back, false for the old rows."""
    cfg = alembic_config(db_url)

    def shape() -> tuple[dict[str, bool], bool]:
        get_engine.cache_clear()
        insp = sa.inspect(get_engine(db_url))
        flags = {t: "alert_only" in {c["name"] for c in insp.get_columns(t)} for t in FLAGGED}
        return flags, insp.has_table("alert_orders")

    with get_engine(db_url).begin() as conn:
        _seed_user_and_workflow(conn)
        conn.execute(sa.text("UPDATE workflows SET alert_only = true"))
        conn.execute(sa.text(
            "INSERT INTO scheduled_jobs (workflow_id, user_id, name, trigger_type, "
            "trigger_config, is_active, consecutive_failures, run_count, created_at, "
            "updated_at, alert_only) SELECT w.id, w.user_id, 'j', 'cron', '{}', true, 0, 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, true FROM workflows w"))
        conn.execute(sa.text(
            "INSERT INTO workflow_executions (workflow_id, user_id, status, trigger_type, "
            "trigger_payload, attempt, created_at, alert_only) SELECT w.id, w.user_id, "
            "'completed', 'manual', '{}', 1, CURRENT_TIMESTAMP, true FROM workflows w"))
        conn.execute(sa.text(
            "INSERT INTO alert_orders (user_id, idempotency_key, symbol, side, order_type, "
            "quantity, created_at) SELECT id, '1:buy', 'EURUSD', 'buy', 'market', 0.1, "
            "CURRENT_TIMESTAMP FROM users"))
    assert shape() == (dict.fromkeys(FLAGGED, True), True)
    before = ScriptDirectory.from_config(cfg).get_revision("alert_only_mode").down_revision
    command.downgrade(cfg, before)
    assert shape() == (dict.fromkeys(FLAGGED, False), False)
    command.upgrade(cfg, "head")
    assert shape() == (dict.fromkeys(FLAGGED, True), True)
    with get_engine(db_url).connect() as conn:
        for table in FLAGGED:
            rows = conn.execute(sa.text(f"SELECT alert_only FROM {table}")).all()
            assert [bool(r[0]) for r in rows] == [False], table
        assert conn.execute(sa.text("SELECT count(*) FROM alert_orders")).scalar() == 0
