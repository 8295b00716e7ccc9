"""Alembic migrations on SQLite and PostgreSQL: up, down, up again, and no drift from the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import agentic_app.db.alert_models
import agentic_app.db.broker_models
import agentic_app.db.models
import agentic_app.db.scheduler_models
import agentic_app.db.trading_models  # noqa: F401
from agentic_app.db.engine import get_engine
from agentic_app.db.migrate import alembic_config

SEED_TABLES = {"scheduled_jobs", "job_queue", "execution_metrics"}
STEP1_TABLES = SEED_TABLES | {"users", "api_tokens", "workflows", "workflow_executions",
                              "node_executions", "execution_events"}


def _tables(url: str) -> set[str]:
    return set(sa.inspect(get_engine(url)).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(empty_db_url):
    """upgrade head creates every table, downgrade base removes them all, upgrade works again."""
    cfg = alembic_config(empty_db_url)
    command.upgrade(cfg, "head")
    assert STEP1_TABLES <= _tables(empty_db_url)
    command.downgrade(cfg, "base")
    get_engine.cache_clear()
    assert _tables(empty_db_url) == set()
    command.upgrade(cfg, "head")
    get_engine.cache_clear()
    assert STEP1_TABLES <= _tables(empty_db_url)


EXPRESSION_INDEXES = {"ix_job_queue_waiting"}
"""Indexes with an expression (``priority DESC``), which autogenerate cannot compare: they
are checked by :func:`test_expression_indexes_exist` instead."""


def _comparable(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_models_match_migrations(db_url):
    """Autogenerate against the migrated database finds no difference from the SQLModel tables."""
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": _comparable})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []


def test_expression_indexes_exist(db_url):
    """The waiting-jobs index is there, partial, in dispatch order (priority DESC, id)."""
    from agentic_app.db.models import JobQueueEntry

    model = {i.name: i for i in JobQueueEntry.__table__.indexes}
    assert EXPRESSION_INDEXES <= set(model)
    engine = get_engine(db_url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'index' "
                                       "AND name = 'ix_job_queue_waiting'").scalar()
        else:
            sql = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes "
                                       "WHERE indexname = 'ix_job_queue_waiting'").scalar()
    normalized = " ".join(sql.replace("(", " ").replace(")", " ").replace("::text", "")
                          .split()).lower()
    assert "user_id, priority desc, id" in normalized
    assert "where status = 'pending' and rq_job_id is null" in normalized


def test_seed_columns_present(db_url):
    """The seed's three tables carry every column of the plan."""
    insp = sa.inspect(get_engine(db_url))
    cols = {t: {c["name"] for c in insp.get_columns(t)} for t in SEED_TABLES}
    assert {"id", "workflow_id", "user_id", "trigger_type", "trigger_config", "is_active",
            "last_run", "next_run", "run_count", "created_at"} <= cols["scheduled_jobs"]
    assert {"id", "workflow_id", "user_id", "status", "priority", "retry_count", "max_retries",
            "scheduled_at", "started_at", "completed_at", "error_message",
            "created_at"} <= cols["job_queue"]
    assert {"id", "execution_id", "total_nodes", "successful_nodes", "failed_nodes",
            "total_time_ms", "avg_node_time_ms", "memory_used_mb",
            "created_at"} <= cols["execution_metrics"]
    uniques = insp.get_unique_constraints("execution_events")
    assert any(set(u["column_names"]) == {"execution_id", "seq"} for u in uniques)


def _seed_user_and_workflow(conn: sa.Connection) -> None:
    """One user 'u' with one workflow 'w', in plain SQL (no model of a later revision)."""
    conn.execute(sa.text("INSERT INTO users (username, password_hash, is_active, is_admin, "
                         "created_at) VALUES ('u', 'x', true, false, CURRENT_TIMESTAMP)"))
    conn.execute(sa.text(
        "INSERT INTO workflows (user_id, name, description, definition, version, is_active, "
        "created_at, updated_at) SELECT id, 'w', '', '{}', 1, true, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP FROM users"))


def test_config_error_column_down_and_up(db_url):
    """0005 adds scheduled_jobs.config_error; downgrading to 0004 drops it and keeps the rows,
    upgrading adds it back (empty)."""
    cfg = alembic_config(db_url)

    def columns() -> set[str]:
        get_engine.cache_clear()
        return {c["name"] for c in sa.inspect(get_engine(db_url)).get_columns("scheduled_jobs")}

    with get_engine(db_url).begin() as conn:
        _seed_user_and_workflow(conn)
        conn.execute(sa.text(
            "INSERT INTO scheduled_jobs (workflow_id, user_id, name, trigger_type, "
            "trigger_config, is_active, consecutive_failures, run_count, created_at, "
            "updated_at, config_error) SELECT w.id, w.user_id, 'j', 'cron', '{}', true, 0, 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'invalid config: x' FROM workflows w"))
    assert "config_error" in columns()
    command.downgrade(cfg, "0004")
    assert "config_error" not in columns()
    command.upgrade(cfg, "head")
    assert "config_error" in columns()
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT name, config_error FROM scheduled_jobs")).all()
    assert [tuple(r) for r in rows] == [("j", None)]


def test_execution_snapshot_and_manual_retries_down_and_up(db_url):
    """0006 adds workflow_executions.definition / workflow_version and the manual_retries
    table; downgrading to 0005 drops them and keeps the executions, upgrading adds them back
    (empty for old rows, which then run their workflow's current definition)."""
    cfg = alembic_config(db_url)

    def shape() -> tuple[set[str], bool]:
        get_engine.cache_clear()
        insp = sa.inspect(get_engine(db_url))
        return ({c["name"] for c in insp.get_columns("workflow_executions")},
                insp.has_table("manual_retries"))

    with get_engine(db_url).begin() as conn:
        _seed_user_and_workflow(conn)
        conn.execute(sa.text(
            "INSERT INTO workflow_executions (workflow_id, user_id, status, trigger_type, "
            "trigger_payload, attempt, created_at, definition, workflow_version) SELECT w.id, "
            "w.user_id, 'failed', 'manual', '{}', 1, CURRENT_TIMESTAMP, '{\"nodes\": []}', 1 "
            "FROM workflows w"))
        conn.execute(sa.text(
            "INSERT INTO manual_retries (execution_id, user_id, created_at) SELECT id, user_id, "
            "CURRENT_TIMESTAMP FROM workflow_executions"))
    columns, table = shape()
    assert {"definition", "workflow_version"} <= columns and table
    command.downgrade(cfg, "0005")
    columns, table = shape()
    assert not {"definition", "workflow_version"} & columns and not table
    command.upgrade(cfg, "head")
    columns, table = shape()
    assert {"definition", "workflow_version"} <= columns and table
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT status, definition, workflow_version FROM workflow_executions")).all()
        retries = conn.execute(sa.text("SELECT count(*) FROM manual_retries")).scalar()
    assert [tuple(r) for r in rows] == [("failed", None, None)] and retries == 0


def test_live_broker_tables_down_and_up(db_url):
    """live_broker_tables adds the credentials, live orders, limits and kill-switch tables;
    downgrading to 0006 drops exactly those, upgrading brings them back."""
    cfg = alembic_config(db_url)
    tables = {"exchange_credentials", "live_orders", "trading_limits", "trading_halts"}
    assert tables <= _tables(db_url)
    command.downgrade(cfg, "0006")
    get_engine.cache_clear()
    assert not tables & _tables(db_url) and STEP1_TABLES <= _tables(db_url)
    command.upgrade(cfg, "head")
    get_engine.cache_clear()
    assert tables <= _tables(db_url)
