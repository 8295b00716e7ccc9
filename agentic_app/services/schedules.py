"""Scheduled jobs: create, update, delete, list and previews (pause, resume, skip and run
now: ``schedule_control``; history and health: ``schedule_history``).

A schedule is the truth of when its workflow runs: a workflow may have any number of them, each
with its own trigger type and config. The workflow's trigger node only offers defaults to a new
schedule of the node's own type (and is where a run's trigger data enters the graph).
Everything is validated before anything is written.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from agentic_app.db.locks import SCHEDULES_LOCK_KEY, lock_writes
from agentic_app.db.models import (
    JobQueueEntry,
    ScheduledJob,
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
from agentic_app.services.schedule_control import ScheduleControl
from agentic_app.services.schedule_history import ScheduleHistory, outcome_view
from agentic_app.settings import Settings

NODE_FOR_TRIGGER = {"cron": "schedule_trigger", "time": "time_trigger", "price": "price_trigger",
                    "indicator": "indicator_trigger", "webhook": "webhook_trigger"}
"""Trigger type -> the workflow trigger node type that declares it."""
COMMON_NODE_PARAMS = set(NodeParams.model_fields)
"""Node params that are not trigger config (timeout_seconds, join)."""
PREVIEW_COUNT = 5
KEPT_ON_TYPE_CHANGE = ("priority", "overlap_policy")
"""Config fields every trigger type has: a job keeps them when its trigger type changes."""


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


def node_defaults(definition: dict, trigger_type: str) -> dict:
    """The params of the workflow's trigger node when it is a ``trigger_type`` node: the
    defaults a new schedule of that type is offered; {} otherwise (the node never restricts
    which schedules a workflow may have)."""
    node = trigger_node(definition)
    if node is None or node.get("type") != NODE_FOR_TRIGGER[canonical_type(trigger_type)]:
        return {}
    return {k: v for k, v in (node.get("params") or {}).items()
            if k not in COMMON_NODE_PARAMS}


def resolve_config(settings: Settings, *, trigger_type: str, trigger_config: dict | None,
                   market: Any, defaults: dict | None = None):
    """(canonical type, validated config) of a schedule: ``defaults`` (the trigger node's
    params, or the schedule's stored config on update) overlaid by ``trigger_config``; a key
    set to null there goes back to its default. InvalidInputError names the field."""
    trigger_type = canonical_type(trigger_type)
    if trigger_config is not None and not isinstance(trigger_config, dict):
        raise InvalidInputError("trigger_config must be an object", field="trigger_config")
    base = dict(defaults or {})
    requested = dict(trigger_config or {})
    if trigger_type == "indicator":
        base, requested = _normalized(base), _normalized(requested)
    candidate = {k: v for k, v in {**base, **requested}.items()
                 if v is not None and k != "type"}
    config = parse_trigger_config(trigger_type, candidate,
                                  default_timezone=settings.scheduler_config.timezone)
    check_schedule_period(config, min_period_seconds=settings.schedules.min_period_seconds,
                          allow_seconds_cron=settings.schedules.allow_seconds_cron)
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


def schedule_view(job: ScheduledJob, *, now: datetime | None = None,
                  data_stale: str | None = None) -> dict:
    """API/UI view of a job: its row plus description, the next fire times (``skipped_runs``:
    those of them the job will skip), ``config_error`` (the scheduler's stored problem, or why
    the stored config is invalid), its health badge and outcome counts (``outcome_view``)."""
    data = job.model_dump(exclude={"webhook_secret"}, warnings=False)  # a corrupt row's
    try:                                                                 # config may be any JSON
        config = parse_trigger_config(job.trigger_type, job.trigger_config)
    except InvalidInputError as exc:  # a corrupt row: shown with its problem, not a 500
        problem = f"invalid config: {exc.message}"
        data.update(description=problem, next_runs=[], skipped_runs=[],
                    config_error=job.config_error or problem)
        data.update(outcome_view(job, config_error=data["config_error"],
                                 data_stale=data_stale))
        return data
    after = max(now or utcnow(), job.created_at)
    runs: list[datetime] = []
    if job.is_active and isinstance(config, CronTriggerConfig | IntervalTriggerConfig):
        runs = next_fire_times(config, after, PREVIEW_COUNT, jitter_key=str(job.id),
                               anchor=job.created_at)
    data.update(description=describe(config), next_runs=[t.isoformat() for t in runs],
                skipped_runs=[t.isoformat() for t in runs[:max(0, job.skip_next)]],
                dst_note=_dst_note(config, after))
    data.update(outcome_view(job, config_error=job.config_error, data_stale=data_stale))
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

class ScheduleService(ScheduleControl, ScheduleHistory, Service):
    """The acting user's scheduled jobs."""

    @staticmethod
    def owned(session: Any, actor: Actor, job_id: int) -> ScheduledJob:
        """The job row in ``session`` if it is the user's (the one ownership check of
        scheduled jobs); NotFoundError otherwise."""
        job = session.get(ScheduledJob, job_id)
        if job is None or job.user_id != actor.id:
            raise NotFoundError(f"scheduled job {job_id} not found", field="id")
        return job

    def resolve(self, *, trigger_type: str, trigger_config: dict | None,
                defaults: dict | None = None):
        """(canonical type, validated config): :func:`resolve_config` with the process's
        settings and market."""
        return resolve_config(self.settings, trigger_type=trigger_type,
                              trigger_config=trigger_config, market=self._app.market,
                              defaults=defaults)

    def create(self, actor: Actor, *, workflow_id: int, trigger_type: str,
               trigger_config: dict | None = None, name: str = "") -> ScheduledJob:
        """Validate and create a scheduled job of any trigger type for one of the user's
        workflows (fields not given default to the workflow's trigger node when it is of the
        same type; webhook jobs get a URL token and a secret);
        ConflictError(field="schedules.max_per_user") past the user's cap (HTTP 409)."""
        with self.db.session() as s:
            lock_writes(s, SCHEDULES_LOCK_KEY, actor.id)  # count + insert exact per user
            wf = self._app.workflows.owned(s, actor, workflow_id)
            self._check_count(s, actor)
            trigger_type, config = self.resolve(
                trigger_type=trigger_type, trigger_config=trigger_config,
                defaults=node_defaults(wf.definition, trigger_type))
            job = ScheduledJob(workflow_id=wf.id, user_id=actor.id, name=name or wf.name,
                               trigger_type=trigger_type, trigger_config=_config_dict(config))
            _webhook_credentials(job, config)
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

    def update(self, actor: Actor, job_id: int, *, trigger_type: str | None = None,
               trigger_config: dict | None = None, name: str | None = None) -> ScheduledJob:
        """Change a job's trigger type, config and/or name; the scheduler (next run, market
        watcher) follows within a second. Same type: ``trigger_config`` is merged over the
        stored config (null resets a field). New type: it is the new config, keeping only
        priority and overlap policy. Everything is validated before anything changes; a job
        that becomes a webhook job gets a new token and secret (``webhook_secret`` this once)."""
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            kind = canonical_type(trigger_type) if trigger_type is not None else job.trigger_type
            if kind != job.trigger_type or trigger_config is not None:
                stored = job.trigger_config if isinstance(job.trigger_config, dict) else {}
                defaults = stored if kind == job.trigger_type else {
                    k: stored[k] for k in KEPT_ON_TYPE_CHANGE if k in stored}
                _, config = self.resolve(trigger_type=kind, trigger_config=trigger_config,
                                         defaults=defaults)
                if kind != job.trigger_type:
                    job.trigger_type = kind
                    _webhook_credentials(job, config)
                job.trigger_config = _config_dict(config)
                job.next_run = (_first_run(config, job.id, job.created_at, utcnow())
                                if job.is_active else None)
                s.execute(TriggerStateRow.__table__.delete().where(
                    TriggerStateRow.scheduled_job_id == job.id))
            if name is not None:
                job.name = name
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


def _webhook_credentials(job: ScheduledJob, config: Any) -> None:
    """A webhook job gets a URL token and a secret (if it has none); another job has none."""
    if isinstance(config, WebhookTriggerConfig):
        if not job.webhook_token:
            job.webhook_token = secrets.token_urlsafe(24)
            job.webhook_secret = _new_webhook_secret()
    else:
        job.webhook_token = job.webhook_secret = None
