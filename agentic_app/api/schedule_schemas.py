"""Request and response models of the scheduler routes: schedules, their pause/skip,
previews and charts, history with missed and skipped runs inline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from agentic_app.api.schemas import (
    IdInt,
    JsonObject,
    Public,
    Text,
    TriggerTypeName,
)
from agentic_app.domain.schedule_health import MAX_PAUSE_NOTE_LENGTH, MAX_SKIP_NEXT
from agentic_app.domain.triggers import MAX_PREVIEW_COUNT
from agentic_app.domain.workflow import MAX_NAME_LENGTH


class ScheduleCreate(BaseModel):
    """A schedule of one of the user's workflows: any trigger type, its config (fields not
    given default to the workflow's trigger node when that is of the same type), a name."""

    workflow_id: IdInt
    trigger_type: TriggerTypeName
    trigger_config: JsonObject = Field(default_factory=dict)
    name: Text = Field("", max_length=MAX_NAME_LENGTH)


class ScheduleUpdate(BaseModel):
    """New trigger type, config and/or name (omitted ones stay; same type: the config is
    merged over the stored one, null resets a field)."""

    trigger_type: TriggerTypeName | None = None
    trigger_config: JsonObject | None = None
    name: Text | None = Field(None, max_length=MAX_NAME_LENGTH)


class SchedulePause(BaseModel):
    """Pause a schedule, with a note and an optional time to resume (ISO-8601 with zone)."""

    note: Text | None = Field(None, max_length=MAX_PAUSE_NOTE_LENGTH)
    resume_at: datetime | None = None


class ScheduleSkip(BaseModel):
    """Skip the schedule's next ``count`` runs (0 cancels)."""

    count: int = Field(ge=0, le=MAX_SKIP_NEXT)


class ScheduleHealthPublic(Public):
    """healthy | failing | invalid_config | auto_paused | paused | data_stale, and why."""

    status: str
    reason: str


class ScheduleCounts(Public):
    """Runs enqueued, executions failed, fire times missed (downtime, misfire) and skipped."""

    runs: int
    failed: int
    missed: int
    skipped: int


class SchedulePublic(Public):
    """A scheduled job with its human-readable schedule and next fire times (UTC)."""

    id: int
    workflow_id: int
    user_id: int
    name: str
    trigger_type: str
    trigger_config: Any = Field(description="the config object (as stored, even when corrupt)")
    is_active: bool
    paused_reason: str | None
    pause_note: str | None = None
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    skip_next: int = 0
    consecutive_failures: int
    last_run: datetime | None
    next_run: datetime | None
    run_count: int
    created_at: datetime
    updated_at: datetime
    webhook_token: str | None
    config_error: str | None = Field(
        None, description="why the scheduler cannot schedule or evaluate this job "
        "('invalid config: ...', 'evaluation failed: ...'); null while it runs fine")
    description: str
    next_runs: list[datetime]
    skipped_runs: list[datetime] = Field(default_factory=list,
                                         description="those of next_runs that will be skipped")
    dst_note: str | None = Field(
        None, description="cron: what happens at the next DST change of its timezone")
    alert_only: bool = Field(False, description="order nodes send alerts instead of trading")
    health: ScheduleHealthPublic
    counts: ScheduleCounts


class PreviewRequest(BaseModel):
    """Any trigger config to preview: description, next fire times (with its trading session
    and DST policy applied) and the DST note, nothing created."""

    trigger_type: TriggerTypeName = "cron"
    trigger_config: JsonObject
    start: AwareDatetime | None = Field(None, description="default now")
    count: int = Field(5, ge=1, le=MAX_PREVIEW_COUNT)


class ChartRequest(BaseModel):
    """A price or indicator trigger to try on the feed's recent history."""

    trigger_type: Literal["price", "indicator"]
    trigger_config: JsonObject


class ChartPoint(Public):
    """One bar: close, the indicator's value, and the close again where the trigger fired."""

    t: str
    close: float
    value: float | None
    fire: float | None


class ChartPublic(Public):
    """Where the trigger would have fired over the last days of the feed."""

    points: list[ChartPoint]
    fires: int
    indicator: str
    timeframe: str


class ScheduleCreated(SchedulePublic):
    """A created job; a webhook job's ``webhook_secret`` is shown this once only."""

    webhook_secret: str | None = None
    webhook_path: str | None = None


class WebhookSecretRotated(Public):
    """A webhook job's new secret, shown this once only (the old one no longer works)."""

    job_id: int
    webhook_secret: str


class SchedulePreview(Public):
    """Description and next fire times of a schedule, nothing created."""

    description: str
    next_runs: list[datetime]
    dst_note: str | None = Field(
        None, description="cron: what happens at the next DST change of its timezone")


class HistoryRun(Public):
    """One execution of a scheduled job."""

    job_id: int
    execution_id: int
    status: str
    retry_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None
    trigger_payload: dict[str, Any] | None
    alert_only: bool = False


class MissedRunPublic(Public):
    """A fire time that did not run, and why."""

    id: int
    scheduled_job_id: int
    fire_time: datetime
    reason: str
    detail: str
    recorded_at: datetime


class HistoryEntry(Public):
    """One line of a job's timeline: an execution (run, failed) or a fire time that did not
    run (missed, skipped) with its reason."""

    at: datetime
    kind: Literal["run", "failed", "missed", "skipped"]
    status: str
    reason: str
    detail: str
    execution_id: int | None
    duration_ms: float | None = None
    alert_only: bool = False


class ScheduleHistory(Public):
    """A job's executions (paginated, newest first), its recent missed runs, and the page's
    timeline: executions with missed/skipped fire times inline."""

    total: int
    offset: int
    limit: int
    runs: list[HistoryRun]
    missed: list[MissedRunPublic]
    timeline: list[HistoryEntry]
