"""SQLModel tables of agentic_app (plain ``SQLModel, table=True``; not rx.Model).

Convention: every timestamp is a timezone-aware UTC datetime (SQLModel's
UTCDateTime refuses naive values and returns UTC). See :func:`utcnow`.
JSON columns use JSON on SQLite and JSONB on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from agentic_app.domain.accounts import MAX_TOKEN_NAME_LENGTH, MAX_USERNAME_LENGTH

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
CONFIG_ERROR_MAX_LENGTH = 1000
"""Longest problem the scheduler stores on a scheduled job (``scheduled_jobs.config_error``)."""


def utcnow() -> datetime:
    """Current time as an aware UTC datetime, the storage convention of every timestamp."""
    return datetime.now(UTC)


def json_column(nullable: bool = True) -> Any:
    """A JSON/JSONB column."""
    return sa.Column(JSONType, nullable=nullable)


class ExecutionStatus(str, Enum):
    """Lifecycle of a workflow execution."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class NodeStatus(str, Enum):
    """Lifecycle of one node inside an execution."""

    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"
    cancelled = "cancelled"


class JobStatus(str, Enum):
    """Lifecycle of a job_queue row (what the queue page shows)."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class TriggerType(str, Enum):
    """How a scheduled job fires."""

    cron = "cron"
    time = "time"
    price = "price"
    indicator = "indicator"
    webhook = "webhook"
    manual = "manual"


class User(SQLModel, table=True):
    """A person who owns workflows and jobs."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=MAX_USERNAME_LENGTH, sa_column_kwargs={"unique": True},
                          index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A bearer token (login session or named API token); only its hash is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=MAX_TOKEN_NAME_LENGTH)
    kind: str = Field(default="api", max_length=16)
    token_hash: str = Field(max_length=128, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked: bool = Field(default=False)


class Workflow(SQLModel, table=True):
    """A user's workflow: a DAG of nodes stored as JSON."""

    __tablename__ = "workflows"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    definition: dict = Field(default_factory=dict, sa_column=json_column(nullable=False))
    version: int = Field(default=1)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # alert-only mode: order nodes send the order as an alert instead of trading
    alert_only: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class WorkflowExecution(SQLModel, table=True):
    """One run of a workflow (all its attempts share this row)."""

    __tablename__ = "workflow_executions"
    __table_args__ = (
        sa.Index("ix_workflow_executions_user_status", "user_id", "status"),
        # the daily cap's count (user's executions created since 00:00 UTC) reads only that
        # user's rows of the day; a created_at-only index read every user's (migration 0013)
        sa.Index("ix_workflow_executions_user_created", "user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflows.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    scheduled_job_id: int | None = Field(default=None, foreign_key="scheduled_jobs.id", index=True)
    status: str = Field(default=ExecutionStatus.pending.value, max_length=16, index=True)
    trigger_type: str = Field(default=TriggerType.manual.value, max_length=16)
    trigger_payload: dict = Field(default_factory=dict, sa_column=json_column())
    attempt: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)
    # the definition this execution runs, copied when it is created: every attempt (manual
    # retries too) runs it, whatever the workflow became since (None: rows from before 0006)
    definition: dict | None = Field(default=None, sa_column=json_column())
    workflow_version: int | None = None
    # alert-only run (its schedule's or workflow's flag when it was created): nothing traded
    alert_only: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class ManualRetry(SQLModel, table=True):
    """A manual retry of an execution: counted with new executions against the daily cap."""

    __tablename__ = "manual_retries"
    __table_args__ = (sa.Index("ix_manual_retries_user_created", "user_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="workflow_executions.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, index=True)


class NodeExecution(SQLModel, table=True):
    """One attempt of one node within an execution."""

    __tablename__ = "node_executions"
    __table_args__ = (sa.Index("ix_node_executions_exec_node", "execution_id", "node_id"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="workflow_executions.id")
    node_id: str = Field(max_length=100)
    node_type: str = Field(max_length=64)
    status: str = Field(default=NodeStatus.pending.value, max_length=16)
    attempt: int = Field(default=1)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    output: dict | None = Field(default=None, sa_column=json_column())
    error: str | None = Field(default=None, sa_type=sa.Text)


class ExecutionEvent(SQLModel, table=True):
    """An event emitted while an execution runs, numbered per execution."""

    __tablename__ = "execution_events"
    __table_args__ = (
        sa.UniqueConstraint("execution_id", "seq", name="uq_execution_events_exec_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # looked up through uq_execution_events_exec_seq (execution_id leads it)
    execution_id: int = Field(foreign_key="workflow_executions.id")
    seq: int
    attempt: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    ts: datetime = Field(default_factory=utcnow)
    type: str = Field(max_length=32)
    node_id: str | None = Field(default=None, max_length=100)
    level: str = Field(default="info", max_length=8)
    message: str = Field(default="", sa_type=sa.Text)
    data: dict | None = Field(default=None, sa_column=json_column())


class ScheduledJob(SQLModel, table=True):
    """A trigger attached to a workflow (seed table ``scheduled_jobs``)."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (
        sa.Index("ix_scheduled_jobs_active_next", "is_active", "next_run"),
        sa.UniqueConstraint("webhook_token", name="uq_scheduled_jobs_webhook_token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflows.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(default="", max_length=200)
    trigger_type: str = Field(max_length=50)
    trigger_config: dict = Field(default_factory=dict, sa_column=json_column())
    is_active: bool = Field(default=True)
    paused_reason: str | None = Field(default=None, max_length=500)
    consecutive_failures: int = Field(default=0)
    last_run: datetime | None = None
    next_run: datetime | None = Field(default=None, index=True)
    run_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # added by step 4 (webhook trigger): URL token and HMAC secret of webhook jobs
    webhook_token: str | None = Field(default=None, max_length=64)
    webhook_secret: str | None = Field(default=None, max_length=128)
    # added by step 1 (one trigger model): why the scheduler cannot schedule or evaluate this
    # job ("invalid config: ...", "evaluation failed: ..."); None while it runs fine
    config_error: str | None = Field(default=None, max_length=CONFIG_ERROR_MAX_LENGTH)
    # alert-only mode: this schedule's runs send orders as alerts instead of trading
    alert_only: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # added by step 3 (schedules as written): skip the next N fires, pause with a note and
    # an optional resume time, and what became of its fire times (domain/schedule_health.py)
    skip_next: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pause_note: str | None = Field(default=None, max_length=500)
    paused_at: datetime | None = None
    resume_at: datetime | None = Field(default=None, index=True)
    missed_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    skipped_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    failed_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class JobQueueEntry(SQLModel, table=True):
    """A queued execution attempt (seed table ``job_queue``)."""

    __tablename__ = "job_queue"
    __table_args__ = (
        sa.Index("ix_job_queue_user_status", "user_id", "status"),
        # (status, id): a claim or finish (id = ? AND status = ?) is one index probe by
        # whichever index the planner picks (with stale statistics PostgreSQL picked a
        # status-only index and scanned every pending row)
        sa.Index("ix_job_queue_status_id", "status", "id"),
        # the jobs waiting for a slot, in dispatch order (priority, then FIFO)
        sa.Index("ix_job_queue_waiting", "user_id", sa.text("priority DESC"), "id",
                 postgresql_where=sa.text("status = 'pending' AND rq_job_id IS NULL"),
                 sqlite_where=sa.text("status = 'pending' AND rq_job_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflows.id", index=True)
    user_id: int = Field(foreign_key="users.id")  # ix_job_queue_user_status leads with it
    execution_id: int | None = Field(default=None, foreign_key="workflow_executions.id", index=True)
    scheduled_job_id: int | None = Field(default=None, foreign_key="scheduled_jobs.id", index=True)
    dedupe_key: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    rq_job_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default=JobStatus.pending.value, max_length=50)
    priority: int = Field(default=0)  # dispatch order: ix_job_queue_waiting
    retry_count: int = Field(default=0)
    max_retries: int = Field(default=3)
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # added by step 3 (queue): dispatch bookkeeping, see engine/queue/
    attempt: int = Field(default=1)
    next_attempt_at: datetime | None = None
    heartbeat_at: datetime | None = None
    worker_name: str | None = Field(default=None, max_length=200)


class ExecutionMetrics(SQLModel, table=True):
    """Summary figures of a finished execution (seed table ``execution_metrics``)."""

    __tablename__ = "execution_metrics"

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="workflow_executions.id", index=True)
    total_nodes: int = 0
    successful_nodes: int = 0
    failed_nodes: int = 0
    total_time_ms: int = 0
    avg_node_time_ms: int = 0
    memory_used_mb: Decimal = Field(default=Decimal("0"), sa_type=sa.Numeric(10, 2))
    created_at: datetime = Field(default_factory=utcnow)
