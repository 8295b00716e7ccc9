"""Tables of the scheduler: missed runs and the persisted edge state of market triggers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from agentic_app.db.models import json_column, utcnow


class MissedRun(SQLModel, table=True):
    """A fire time that did not run: downtime past the grace time, overlap skip, limit hit."""

    __tablename__ = "missed_runs"
    __table_args__ = (
        sa.UniqueConstraint("scheduled_job_id", "fire_time", name="uq_missed_runs_job_fire"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scheduled_job_id: int = Field(foreign_key="scheduled_jobs.id", index=True)
    fire_time: datetime
    reason: str = Field(max_length=32)
    detail: str = Field(default="", max_length=500)
    recorded_at: datetime = Field(default_factory=utcnow)


class TriggerStateRow(SQLModel, table=True):
    """Edge state (armed, last region, fire count...) of one price/indicator trigger."""

    __tablename__ = "trigger_states"

    scheduled_job_id: int = Field(foreign_key="scheduled_jobs.id", primary_key=True)
    state: dict = Field(default_factory=dict, sa_column=json_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
