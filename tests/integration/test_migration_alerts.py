"""The alerts migration on SQLite and PostgreSQL: down to the revision before it drops the
channel and delivery tables and the inbox columns, keeping the inbox rows; up again adds
them back (old rows read as kind "node")."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from agentic_app.db.engine import get_engine
from agentic_app.db.migrate import alembic_config
from tests.integration.test_migrations import _seed_user_and_workflow

REVISION = "alert_channels_deliveries"


def test_alerts_down_and_up(db_url):
    """Rows of the inbox survive a downgrade and upgrade; the new tables come back empty."""
    cfg = alembic_config(db_url)
    before = ScriptDirectory.from_config(cfg).get_revision(REVISION).down_revision

    def shape() -> tuple[set[str], set[str]]:
        get_engine.cache_clear()
        insp = sa.inspect(get_engine(db_url))
        return ({c["name"] for c in insp.get_columns("notifications")},
                set(insp.get_table_names()))

    with get_engine(db_url).begin() as conn:
        _seed_user_and_workflow(conn)
        conn.execute(sa.text(
            "INSERT INTO notifications (user_id, title, body, level, read, delivered_to, "
            "created_at, kind, refs) SELECT id, 't', '', 'info', false, '[]', CURRENT_TIMESTAMP,"
            " 'order_filled', '{\"order_id\": 1}' FROM users"))
        conn.execute(sa.text(
            "INSERT INTO notification_channels (user_id, name, url, enabled, kinds, failures, "
            "created_at, updated_at) SELECT id, 'c', 'json://93.184.216.34/x', true, '[]', 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM users"))
    columns, tables = shape()
    assert {"kind", "scheduled_job_id", "refs"} <= columns
    assert {"notification_channels", "notification_deliveries"} <= tables
    command.downgrade(cfg, before)
    columns, tables = shape()
    assert not {"kind", "scheduled_job_id", "refs"} & columns
    assert not {"notification_channels", "notification_deliveries"} & tables
    command.upgrade(cfg, "head")
    columns, tables = shape()
    assert {"notification_channels", "notification_deliveries"} <= tables
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT title, kind, refs FROM notifications")).all()
        channels = conn.execute(sa.text("SELECT count(*) FROM notification_channels")).scalar()
    assert [tuple(r) for r in rows] == [("t", "node", None)] and channels == 0
