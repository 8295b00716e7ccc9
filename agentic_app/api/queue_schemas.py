"""Request and response models of the queue routes: jobs, queue status, bulk actions, and
the job a run or webhook delivery enqueued."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from agentic_app.api.schemas import IdInt, Public
from agentic_app.services.app import MAX_BULK


class JobPublic(Public):
    """A job_queue row: one queued execution and its attempts."""

    id: int
    workflow_id: int
    user_id: int
    execution_id: int | None
    scheduled_job_id: int | None
    status: str
    priority: int
    priority_level: Literal["high", "normal", "low"]
    retry_count: int
    max_retries: int
    attempt: int
    waiting_for_slot: bool
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    next_attempt_at: datetime | None
    error_message: str | None
    worker_name: str | None
    created_at: datetime


class Throughput(Public):
    """Jobs that ended within the window."""

    window_minutes: int
    completed: int
    failed: int
    cancelled: int
    completed_per_minute: float


class QueueFacts(Public):
    """The shared queue: pending depth, its cap, and RQ's queue lengths."""

    depth: int
    max_queue_size: int
    rq_lengths: dict[str, int]


class ThroughputPoint(Public):
    """One minute of the user's finished jobs."""

    minute: str = Field(description="HH:MM (UTC)")
    completed: int
    failed: int
    failure_rate: float = Field(description="failed / (completed + failed), in %")


class WorkerPublic(Public):
    """An RQ worker registered in Redis."""

    name: str
    state: str
    queues: list[str]
    current_job_id: str | None
    last_heartbeat: datetime | None


class QueueStatus(Public):
    """The user's jobs per status and priority band, throughput, queue depth, workers."""

    counts: dict[str, int]
    by_priority: dict[str, dict[str, int]]
    waiting_for_slot: int
    throughput: Throughput
    queue: QueueFacts
    workers: list[WorkerPublic]
    workers_online: int
    redis_ok: bool


class WebhookAccepted(Public):
    """A webhook delivery accepted and enqueued."""

    accepted: bool = True
    job_id: int | None = Field(None, description="null for a dropped duplicate alert")
    execution_id: int | None
    status: str


class BulkJobs(BaseModel):
    """The jobs a bulk action applies to."""

    job_ids: list[IdInt] = Field(min_length=1, max_length=MAX_BULK,
                                 description="job ids (repeats count once)")


class BulkJobResult(Public):
    """The outcome of a bulk action on one job."""

    job_id: int
    ok: bool
    outcome: Literal["ok", "not_found", "not_retryable", "not_cancellable", "limit_exceeded",
                     "error"] = Field(description="not_found: unknown or another user's job, "
                                                  "which is left unchanged")
    reason: str | None = Field(None, description="why the job was not changed")
    job: JobPublic | None = Field(None, description="the job after the action (ok only)")


class BulkJobsResult(Public):
    """One result per requested job, in request order, and the counts."""

    results: list[BulkJobResult]
    succeeded: int
    failed: int
