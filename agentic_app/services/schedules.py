"""Scheduled jobs: create, update, pause/resume, delete, list, history and previews.

A scheduled job's trigger comes from its workflow's trigger node; a config given with the
request may add scheduling fields (priority, overlap policy, grace time...) but must agree
with the node on the fields both set. Everything is validated before anything is written.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from agentic_app.db.locks import SCHEDULES_LOCK_KEY, lock_writes
from agentic_app.db.models import (
    JobQueueEntry,
    ScheduledJob,
    Workflow,
    WorkflowExecution,
    utcnow,
)
from agentic_app.db.queries import count_rows
from agentic_app.db.scheduler_models import MissedRun, TriggerStateRow
from agentic_app.domain.errors import ConflictError, InvalidInputError, NotFoundError
from agentic_app.domain.triggers import (
    CronTriggerConfig,
    IntervalTriggerConfig,
    WebhookTriggerConfig,
    canonical_type,
    check_schedule_period,
    describe,
    next_fire_time,
    next_fire_times,
    normalize_indicator_call,
    parse_trigger_config,
)
from agentic_app.nodes.base import NodeParams
from agentic_app.nodes.library import registry
from agentic_app.services.base import Actor, Service
from agentic_app.settings import Settings

NODE_FOR_TRIGGER = {"cron": "schedule_trigger", "time": "time_trigger", "price": "price_trigger",
                    "indicator": "indicator_trigger", "webhook": "webhook_trigger"}
"""Trigger type -> the workflow trigger node type that declares it."""
COMMON_NODE_PARAMS = set(NodeParams.model_fields)
"""Node params that are not trigger config (timeout_seconds, join)."""
PREVIEW_COUNT = 5


def _normalized(config: dict) -> dict:
    """``normalize_indicator_call`` with its error on ``trigger_config.condition``."""
    try:
        return normalize_indicator_call(config)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message, field="trigger_config.condition") from None


def trigger_node(definition: dict) -> dict | None:
    """The definition's trigger node, or None."""
    for node in definition.get("nodes", []):
        cls = registry.get(node.get("type", ""))
        if cls is not None and cls.is_trigger:
            return node
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return a == b


def resolve_config(settings: Settings, *, definition: dict, trigger_type: str,
                   trigger_config: dict | None, market: Any):
    """The validated trigger config of a schedule: node params overlaid by the request's."""
    trigger_type = canonical_type(trigger_type)
    node = trigger_node(definition)
    expected = NODE_FOR_TRIGGER[trigger_type]
    if node is None:
        raise InvalidInputError(f"the workflow has no trigger node; add a {expected!r} node",
                                field="workflow_id")
    if node["type"] != expected:
        raise InvalidInputError(f"the workflow's trigger node is {node['type']!r}, which does "
                                f"not match trigger_type {trigger_type!r}", field="trigger_type")
    merged = {k: v for k, v in (node.get("params") or {}).items()
              if k not in COMMON_NODE_PARAMS}
    if trigger_type == "indicator":
        merged = _normalized(merged)
        trigger_config = _normalized(trigger_config or {})
    merged.pop("type", None)
    requested = {k: v for k, v in (trigger_config or {}).items() if k != "type"}
    candidate = {**merged, **requested}
    # the request's values are checked on their own merits first (a bad cron or a malformed
    # condition is reported as such, with its position), then against the trigger node
    config = parse_trigger_config(trigger_type, candidate,
                                  default_timezone=settings.scheduler_config.timezone)
    check_schedule_period(config, min_period_seconds=settings.schedules.min_period_seconds,
                          allow_seconds_cron=settings.schedules.allow_seconds_cron)
    for key, value in requested.items():
        if key in merged and not _same(merged[key], value):
            raise InvalidInputError(
                f"{key} = {value!r} disagrees with the workflow's trigger node ({merged[key]!r})",
                field=f"trigger_config.{key}")
    symbol = getattr(config, "symbol", None)
    if symbol is not None:
        try:
            market.instrument(symbol)
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message, field="trigger_config.symbol") from None
    return trigger_type, config


def _config_dict(config) -> dict:
    data = config.model_dump(mode="json", exclude={"type"})
    return {k: v for k, v in data.items() if v is not None}


def _first_run(config, job_id: int, anchor: datetime, now: datetime) -> datetime | None:
    if isinstance(config, CronTriggerConfig | IntervalTriggerConfig):
        return next_fire_time(config, now, jitter_key=str(job_id), anchor=anchor)
    return None


def schedule_view(job: ScheduledJob, *, now: datetime | None = None) -> dict:
    """API/UI view of a job: its row plus description, the next fire times and
    ``config_error`` (the scheduler's stored problem, or why the stored config is invalid)."""
    data = job.model_dump(exclude={"webhook_secret"}, warnings=False)  # a corrupt row's
    try:                                                                 # config may be any JSON
        config = parse_trigger_config(job.trigger_type, job.trigger_config)
    except InvalidInputError as exc:  # a corrupt row: shown with its problem, not a 500
        problem = f"invalid config: {exc.message}"
        data.update(description=problem, next_runs=[],
                    config_error=job.config_error or problem)
        return data
    after = max(now or utcnow(), job.created_at)
    runs: list[datetime] = []
    if job.is_active and isinstance(config, CronTriggerConfig | IntervalTriggerConfig):
        runs = next_fire_times(config, after, PREVIEW_COUNT, jitter_key=str(job.id),
                               anchor=job.created_at)
    data.update(description=describe(config), next_runs=[t.isoformat() for t in runs],
                dst_note=_dst_note(config, after))
    return data


def _dst_note(config, after: datetime) -> str | None:
    """What a cron schedule does at the next DST change (None for other triggers)."""
    return config.dst_note(after) if isinstance(config, CronTriggerConfig) else None


def preview(settings: Settings, *, trigger_type: str = "cron", trigger_config: dict,
            start: datetime | None = None, count: int = PREVIEW_COUNT) -> dict:
    """Description and next fire times of a config, without creating anything."""
    trigger_type = canonical_type(trigger_type)
    config = parse_trigger_config(trigger_type, trigger_config,
                                  default_timezone=settings.scheduler_config.timezone)
    start = start or utcnow()
    runs = []
    if isinstance(config, CronTriggerConfig | IntervalTriggerConfig):
        runs = next_fire_times(config, start, count, anchor=start)
    return {"description": describe(config), "next_runs": [t.isoformat() for t in runs],
            "dst_note": _dst_note(config, start)}


def _new_webhook_secret() -> str:
    """A fresh random webhook secret."""
    return "whsec_" + secrets.token_urlsafe(32)

class ScheduleService(Service):
    """The acting user's scheduled jobs."""

    @staticmethod
    def owned(session: Any, actor: Actor, job_id: int) -> ScheduledJob:
        """The job row in ``session`` if it is the user's (the one ownership check of
        scheduled jobs); NotFoundError otherwise."""
        job = session.get(ScheduledJob, job_id)
        if job is None or job.user_id != actor.id:
            raise NotFoundError(f"scheduled job {job_id} not found", field="id")
        return job

    def resolve(self, *, definition: dict, trigger_type: str, trigger_config: dict | None):
        """(canonical type, validated config) of a schedule of ``definition``
        (:func:`resolve_config` with the process's settings and market)."""
        return resolve_config(self.settings, definition=definition, trigger_type=trigger_type,
                              trigger_config=trigger_config, market=self._app.market)

    def create(self, actor: Actor, *, workflow_id: int, trigger_type: str,
               trigger_config: dict | None = None, name: str = "") -> ScheduledJob:
        """Validate and create a scheduled job (webhook jobs get a URL token and a secret);
        ConflictError(field="schedules.max_per_user") past the user's cap (HTTP 409)."""
        with self.db.session() as s:
            lock_writes(s, SCHEDULES_LOCK_KEY, actor.id)  # count + insert exact per user
            wf = self._app.workflows.owned(s, actor, workflow_id)
            self._check_count(s, actor)
            trigger_type, config = self.resolve(definition=wf.definition,
                                                trigger_type=trigger_type,
                                                trigger_config=trigger_config)
            job = ScheduledJob(workflow_id=wf.id, user_id=actor.id, name=name or wf.name,
                               trigger_type=trigger_type, trigger_config=_config_dict(config))
            if isinstance(config, WebhookTriggerConfig):
                job.webhook_token = secrets.token_urlsafe(24)
                job.webhook_secret = _new_webhook_secret()
            s.add(job)
            s.flush()
            job.next_run = _first_run(config, job.id, job.created_at, utcnow())
            s.flush()
            s.refresh(job)
            return job

    def rotate_webhook_secret(self, actor: Actor, job_id: int) -> tuple[ScheduledJob, str]:
        """Give the user's webhook job a new secret (the old one stops working at once);
        the new secret is returned this once and never shown again. 409 for other jobs."""
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            if job.trigger_type != "webhook" or not job.webhook_token:
                raise ConflictError(f"scheduled job {job_id} is not a webhook job", field="id")
            job.webhook_secret = _new_webhook_secret()
            job.updated_at = utcnow()
            s.flush()
            s.refresh(job)
            return job, job.webhook_secret

    def _check_count(self, session: Any, actor: Actor) -> None:
        """Refuse a new job when the user already has ``schedules.max_per_user`` of them."""
        cap = self.settings.schedules.max_per_user
        have = count_rows(session, select(ScheduledJob).where(ScheduledJob.user_id == actor.id))
        if have >= cap:
            raise ConflictError(
                f"you have {have} scheduled jobs, the limit is {cap} (setting "
                "SCHEDULES__MAX_PER_USER); delete one first", field="schedules.max_per_user")

    def update(self, actor: Actor, job_id: int, *, trigger_config: dict | None = None,
               name: str | None = None) -> ScheduledJob:
        """Change a job's config or name; the scheduler follows within a second."""
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            if trigger_config is not None:
                wf = s.get(Workflow, job.workflow_id)
                _, config = self.resolve(definition=wf.definition, trigger_type=job.trigger_type,
                                         trigger_config=trigger_config)
                job.trigger_config = _config_dict(config)
                job.next_run = _first_run(config, job.id, job.created_at, utcnow())
                s.execute(TriggerStateRow.__table__.delete().where(
                    TriggerStateRow.scheduled_job_id == job.id))
            if name is not None:
                job.name = name
            job.updated_at = utcnow()
            s.flush()
            s.refresh(job)
            return job

    def toggle(self, actor: Actor, job_id: int) -> ScheduledJob:
        """Pause an active job, or resume a paused one (from now: no catch-up of the pause)."""
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            job.is_active = not job.is_active
            if job.is_active:
                job.paused_reason = None
                job.consecutive_failures = 0
                config = parse_trigger_config(job.trigger_type, job.trigger_config)
                job.next_run = _first_run(config, job.id, job.created_at, utcnow())
            else:
                job.paused_reason = "paused by user"
            job.updated_at = utcnow()
            s.flush()
            s.refresh(job)
            return job

    def delete(self, actor: Actor, job_id: int) -> None:
        """Delete a job; its executions and queue rows stay in history, unlinked."""
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            for model in (JobQueueEntry, WorkflowExecution):
                s.execute(model.__table__.update().where(
                    model.__table__.c.scheduled_job_id == job.id).values(scheduled_job_id=None))
            for model in (MissedRun, TriggerStateRow):
                s.execute(model.__table__.delete().where(
                    model.__table__.c.scheduled_job_id == job.id))
            s.delete(job)

    def get(self, actor: Actor, job_id: int) -> ScheduledJob:
        """One of the user's jobs (NotFoundError otherwise)."""
        with self.db.session() as s:
            return self.owned(s, actor, job_id)

    def list(self, actor: Actor, *, trigger_type: str | None = None,
             workflow_id: int | None = None, is_active: bool | None = None, offset: int = 0,
             limit: int = 50) -> tuple[list[ScheduledJob], int]:
        """The user's jobs, newest first, filtered and paginated; (rows, total)."""
        with self.db.session() as s:
            stmt = select(ScheduledJob).where(ScheduledJob.user_id == actor.id)
            if trigger_type:
                stmt = stmt.where(ScheduledJob.trigger_type == canonical_type(trigger_type))
            if workflow_id is not None:
                stmt = stmt.where(ScheduledJob.workflow_id == workflow_id)
            if is_active is not None:
                stmt = stmt.where(ScheduledJob.is_active == is_active)
            total = count_rows(s, stmt)
            rows = s.exec(stmt.order_by(col(ScheduledJob.id).desc()).offset(offset)
                          .limit(limit))
            return list(rows), int(total)

    view = staticmethod(schedule_view)

    def preview(self, *, trigger_type: str = "cron", trigger_config: dict,
                start: datetime | None = None, count: int = PREVIEW_COUNT) -> dict:
        """Description and next fire times of a config, without creating anything."""
        return preview(self.settings, trigger_type=trigger_type, trigger_config=trigger_config,
                       start=start, count=count)

    def history(self, actor: Actor, job_id: int, *, offset: int = 0, limit: int = 50) -> dict:
        """Executions of a job (status, times, duration, payload) and its missed runs."""
        with self.db.session() as s:
            self.owned(s, actor, job_id)
            stmt = (select(JobQueueEntry, WorkflowExecution)
                    .join(WorkflowExecution, WorkflowExecution.id == JobQueueEntry.execution_id)
                    .where(JobQueueEntry.scheduled_job_id == job_id)
                    .order_by(col(JobQueueEntry.id).desc()))
            total = s.exec(select(func.count()).select_from(
                select(JobQueueEntry.id).where(JobQueueEntry.scheduled_job_id == job_id)
                .subquery())).one()
            runs = []
            for q, ex in s.exec(stmt.offset(offset).limit(limit)):
                duration = None
                if ex.started_at and ex.finished_at:
                    duration = (ex.finished_at - ex.started_at) / timedelta(milliseconds=1)
                runs.append({"job_id": q.id, "execution_id": ex.id, "status": q.status,
                             "retry_count": q.retry_count, "created_at": q.created_at,
                             "started_at": ex.started_at, "finished_at": ex.finished_at,
                             "duration_ms": duration, "error": q.error_message,
                             "trigger_payload": ex.trigger_payload,
                             "alert_only": ex.alert_only})
            missed = s.exec(select(MissedRun).where(MissedRun.scheduled_job_id == job_id)
                            .order_by(col(MissedRun.fire_time).desc()).limit(100)).all()
            return {"total": int(total), "runs": runs,
                    "missed": [m.model_dump() for m in missed]}

    def last_runs(self, actor: Actor, job_ids: list[int]) -> dict[int, dict]:
        """Newest queue row per scheduled job of the user: {job_id: {status, at, job}}."""
        out: dict[int, dict] = {}
        if not job_ids:
            return out
        with self.db.session() as s:
            rows = s.exec(select(JobQueueEntry).where(
                JobQueueEntry.user_id == actor.id,
                col(JobQueueEntry.scheduled_job_id).in_(job_ids)).order_by(
                col(JobQueueEntry.id).desc())).all()
        for row in rows:
            out.setdefault(row.scheduled_job_id, {"status": row.status, "at": row.created_at,
                                                  "job": row.id})
        return out

    def run_now(self, actor: Actor, job_id: int, *, source: str = "api") -> JobQueueEntry:
        """Run a scheduled job's workflow now, at the job's priority and counted in its
        history (trigger type ``manual``); the job row's ``execution_id`` is what to watch.
        Errors as :meth:`WorkflowService.run_now`."""
        job = self.get(actor, job_id)
        config = parse_trigger_config(job.trigger_type, job.trigger_config)
        return self._app.workflows.run_now(
            actor, job.workflow_id, priority=config.priority,
            scheduled_job_id=job.id,
            trigger_payload={"source": source, "scheduled_job_id": job.id})

