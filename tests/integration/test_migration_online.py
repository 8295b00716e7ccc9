"""Migration 0013 on PostgreSQL runs while the old version still serves (docs/DEPLOY.md):
its indexes on the tables every enqueue writes are built CONCURRENTLY, so inserts go on
while a build waits, where a plain CREATE INDEX would queue them all behind it."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from alembic import command

from agentic_app.db.engine import get_engine
from agentic_app.db.migrate import alembic_config
from tests.conftest import fresh_postgres_database
from tests.integration.test_migrations import _seed_user_and_workflow

pytestmark = pytest.mark.postgres

_INSERT = sa.text(
    "INSERT INTO workflow_executions (workflow_id, user_id, status, trigger_type, "
    "trigger_payload, attempt, created_at, alert_only) SELECT id, user_id, 'completed', "
    "'manual', '{}', 1, CURRENT_TIMESTAMP, false FROM workflows")


def test_0013_lets_inserts_through_while_its_index_build_waits(tmp_path):
    with fresh_postgres_database() as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "job_queue_lookup_indexes")  # 0012
        engine = get_engine(url)
        with engine.begin() as conn:
            _seed_user_and_workflow(conn)
        writer = engine.connect()
        writer.begin()
        writer.execute(_INSERT)  # an enqueue's transaction, still open
        failures: list[BaseException] = []

        def migrate() -> None:
            try:
                command.upgrade(alembic_config(url), "head")
            except BaseException as exc:  # reported by the test
                failures.append(exc)

        thread = threading.Thread(target=migrate, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            # a concurrent build waits for the transactions open at its start (a virtualxid
            # lock); a plain one would wait for their table lock, and inserts behind it
            with engine.connect() as watcher:
                while not watcher.execute(sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'")).scalar():
                    assert time.monotonic() < deadline, "the index build never waited"
                    assert thread.is_alive(), failures
                    time.sleep(0.05)
            with engine.connect() as other:  # another enqueue meanwhile gets through
                other.execute(sa.text("SET lock_timeout = '3s'"))
                other.execute(_INSERT)
                other.commit()
        finally:
            writer.commit()
            writer.close()
            thread.join(60)
        assert not thread.is_alive() and failures == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM workflow_executions")).scalar() == 2
            valid = conn.execute(sa.text(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
                "ON c.oid = i.indexrelid WHERE c.relname LIKE 'ix_%_user_created'")).all()
        assert sorted(valid) == [("ix_manual_retries_user_created", True),
                                 ("ix_workflow_executions_user_created", True)]
        engine.dispose()
