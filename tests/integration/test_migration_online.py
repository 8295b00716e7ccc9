"""Migration 0013 on PostgreSQL runs while the old version still serves (docs/DEPLOY.md):
its indexes on the tables every enqueue writes are built CONCURRENTLY, so inserts go on
while a build waits, where a plain CREATE INDEX would queue them all behind it; two
migrations started at once both finish (the migration lock is polled: a waiting lock
statement's snapshot would hold up the holder's concurrent build forever), and a run
interrupted halfway can be run again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

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
NEW = {"ix_workflow_executions_user_created", "ix_manual_retries_user_created"}
GONE = {"ix_workflow_executions_user_id", "ix_manual_retries_user_id",
        "ix_execution_events_execution_id", "ix_job_queue_user_id", "ix_job_queue_priority"}


@pytest.fixture
def at_0012():
    """A fresh PostgreSQL database at revision 0012 with one user and workflow; its URL."""
    with fresh_postgres_database() as url:
        command.upgrade(alembic_config(url), "job_queue_lookup_indexes")
        with get_engine(url).begin() as conn:
            _seed_user_and_workflow(conn)
        yield url
        get_engine(url).dispose()


def _indexes(url: str) -> dict[str, bool]:
    """The indexes of the four tables 0013 touches: name -> valid."""
    with get_engine(url).connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname "
            "IN ('workflow_executions', 'manual_retries', 'execution_events', 'job_queue')"
        )).all())


def _assert_at_head(url: str) -> None:
    """The new indexes are there and valid, the old ones gone."""
    indexes = _indexes(url)
    assert {n: indexes.get(n) for n in NEW} == dict.fromkeys(NEW, True)
    assert not GONE & set(indexes)


def test_0013_lets_inserts_through_while_its_index_build_waits(at_0012):
    engine = get_engine(at_0012)
    writer = engine.connect()
    writer.begin()
    writer.execute(_INSERT)  # an enqueue's transaction, still open
    failures: list[BaseException] = []

    def migrate() -> None:
        try:
            command.upgrade(alembic_config(at_0012), "head")
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    thread = threading.Thread(target=migrate, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        # a concurrent build waits for the transactions open at its start (a virtualxid
        # lock); a plain one would wait for their table lock, and inserts behind it
        with engine.connect() as watcher:
            # autocommit: a transaction would see pg_stat_activity as at its first read
            watcher.execution_options(isolation_level="AUTOCOMMIT")
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
    _assert_at_head(at_0012)


def test_two_migrations_started_together_both_finish(at_0012, tmp_path):
    code = ("import sys; from pathlib import Path; from agentic_app.db.migrate import "
            "upgrade_to_head; upgrade_to_head(sys.argv[1], Path(sys.argv[2]))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen([sys.executable, "-c", code, at_0012, str(tmp_path / str(i))],
                              env=env, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [0, 0], [p.stderr.read()[-2000:] for p in procs]
    _assert_at_head(at_0012)


def test_an_interrupted_0013_can_be_run_again(at_0012):
    """What a run stopped halfway leaves (one index built, one concurrent build failed and
    left INVALID, one old index already dropped) is finished by running it again."""
    engine = get_engine(at_0012)
    with engine.begin() as conn:
        conn.execute(_INSERT)
        conn.execute(sa.text(  # two rows alike: a unique build over them fails
            "INSERT INTO manual_retries (execution_id, user_id, created_at) SELECT id, "
            "user_id, created_at FROM workflow_executions, (VALUES (1), (2)) AS two(n)"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("CREATE INDEX ix_workflow_executions_user_created ON "
                             "workflow_executions (user_id, created_at)"))
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("CREATE UNIQUE INDEX CONCURRENTLY "
                                 "ix_manual_retries_user_created ON manual_retries "
                                 "(user_id, created_at)"))
        conn.execute(sa.text("DROP INDEX ix_job_queue_priority"))
    assert _indexes(at_0012)["ix_manual_retries_user_created"] is False
    command.upgrade(alembic_config(at_0012), "head")
    _assert_at_head(at_0012)
