"""Scheduler routes: scheduled jobs CRUD, pause (note, resume time) / resume / skip next,
run now, history with missed and skipped runs, and the previews (next fire times; where a
price or indicator trigger would have fired)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from agentic_app.api.backtest_schemas import BacktestPublic, BacktestRequest
from agentic_app.api.deps import AppDep, CurrentUser, IdPath, PageDep, as_utc
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.queue_schemas import JobPublic
from agentic_app.api.schedule_schemas import (
    ChartPublic,
    ChartRequest,
    PreviewRequest,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleHistory,
    SchedulePause,
    SchedulePreview,
    SchedulePublic,
    ScheduleSkip,
    ScheduleUpdate,
    WebhookSecretRotated,
)
from agentic_app.api.schemas import MAX_ID, Page
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.triggers import MAX_PREVIEW_COUNT
from agentic_app.services.app import AppServices

router = APIRouter(prefix="/scheduler", tags=["scheduler"], responses=COMMON_ERRORS)


def _public(app: AppServices, job) -> SchedulePublic:
    return SchedulePublic.model_validate(app.schedules.view(job))


@router.post("/jobs", response_model=ScheduleCreated, status_code=201)
def create_job(body: ScheduleCreate, user: CurrentUser, app: AppDep) -> ScheduleCreated:
    """Create a schedule for one of the user's workflows: any trigger type (a workflow may
    have many schedules); fields not given default to the workflow's trigger node when it is
    of the same type. 422 names the field (``trigger_config.cron_expression``,
    ``trigger_config.condition`` with ``position``, ``trigger_config.symbol``,
    ``trigger_config.interval_minutes``, ``trigger_type``). A webhook job's
    ``webhook_secret`` is returned here only."""
    job = app.schedules.create(user, workflow_id=body.workflow_id,
                               trigger_type=body.trigger_type,
                               trigger_config=body.trigger_config, name=body.name)
    extra = {}
    if job.webhook_token:
        extra = {"webhook_secret": job.webhook_secret,
                 "webhook_path": app.triggers.webhook_path(job)}
    return ScheduleCreated(**_public(app, job).model_dump(), **extra)


@router.post("/jobs/{job_id}/webhook-secret/rotate", response_model=WebhookSecretRotated,
             responses=error_responses(409))
def rotate_webhook_secret(job_id: IdPath, user: CurrentUser,
                          app: AppDep) -> WebhookSecretRotated:
    """Replace a webhook job's secret; the new one is returned here only (no route shows a
    secret again). 404 not the user's job, 409 not a webhook job."""
    job, secret = app.schedules.rotate_webhook_secret(user, job_id)
    return WebhookSecretRotated(job_id=job.id, webhook_secret=secret)


@router.get("/jobs", response_model=Page[SchedulePublic])
def list_jobs(user: CurrentUser, app: AppDep, page: PageDep,
              status: Literal["active", "paused"] | None = None,
              workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
              trigger_type: Literal["cron", "time", "price", "indicator", "webhook"]
              | None = None) -> Page[SchedulePublic]:
    """The user's scheduled jobs, newest first; filter by status, workflow, trigger type."""
    active = None if status is None else status == "active"
    rows, total = app.schedules.list(user, trigger_type=trigger_type, workflow_id=workflow_id,
                                     is_active=active, offset=page.offset, limit=page.limit)
    return Page[SchedulePublic](items=[_public(app, r) for r in rows], total=total,
                                offset=page.offset, limit=page.limit)


@router.get("/preview", response_model=SchedulePreview)
def preview(
    user: CurrentUser,
    app: AppDep,
    cron_expression: Annotated[str | None, Query(max_length=200)] = None,
    interval_minutes: Annotated[int | None, Query(ge=-MAX_ID, le=MAX_ID)] = None,
    timezone: Annotated[str | None, Query(max_length=64)] = None,
    dst_ambiguous: Annotated[str | None, Query(max_length=16)] = None,
    dst_nonexistent: Annotated[str | None, Query(max_length=16)] = None,
    start: Annotated[datetime | None, Query(description="ISO-8601; default now")] = None,
    count: Annotated[int, Query(ge=1, le=MAX_PREVIEW_COUNT)] = 5,
) -> SchedulePreview:
    """Description and next ``count`` fire times (UTC) of a cron expression (in
    ``timezone``, with its DST policy) or an interval, and for cron what happens at the next
    DST change, without creating anything; 422 names the bad field."""
    if cron_expression is not None:
        kind, config = "cron", {"cron_expression": cron_expression}
        if timezone is not None:
            config["timezone"] = timezone
        policy = {"ambiguous": dst_ambiguous, "nonexistent": dst_nonexistent}
        if any(policy.values()):
            config["dst_policy"] = policy
    elif interval_minutes is not None:
        kind, config = "time", {"interval_minutes": interval_minutes}
    else:
        raise InvalidInputError("give cron_expression or interval_minutes",
                                field="cron_expression")
    start_utc = as_utc(start, "start")
    if start_utc is not None and not 1970 <= start_utc.year <= 2200:
        raise InvalidInputError("start must be between 1970 and 2200", field="start")
    try:
        result = app.schedules.preview(trigger_type=kind, trigger_config=config,
                                       start=start_utc, count=count)
    except InvalidInputError as exc:
        field = (exc.field or "").removeprefix("trigger_config.")
        message = exc.message.replace("trigger_config.", "")
        if field.startswith("dst_policy."):  # the query names them dst_ambiguous/_nonexistent
            field = field.replace("dst_policy.", "dst_")
            message = message.replace("dst_policy.", "dst_")
        raise type(exc)(message, field=field,
                        position=exc.position) from None
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(f"no fire time can be computed: {exc}", field="start") from None
    return SchedulePreview.model_validate(result)


@router.post("/preview", response_model=SchedulePreview)
def preview_config(body: PreviewRequest, user: CurrentUser, app: AppDep) -> SchedulePreview:
    """Description, next ``count`` fire times (UTC) and DST note of any trigger config as a
    schedule would hold it (``session``, ``dst_policy`` included), without creating
    anything; 422 names ``trigger_config.<field>``."""
    start = body.start
    if start is not None and not 1970 <= start.year <= 2200:
        raise InvalidInputError("start must be between 1970 and 2200", field="start")
    result = app.schedules.preview(trigger_type=body.trigger_type,
                                   trigger_config=body.trigger_config, start=start,
                                   count=body.count)
    return SchedulePreview.model_validate(result)


@router.post("/preview/chart", response_model=ChartPublic)
def preview_chart(body: ChartRequest, user: CurrentUser, app: AppDep) -> ChartPublic:
    """Where a price or indicator trigger would have fired over the last days of the feed
    (close, indicator value, fire marks), without creating anything; 422 names the bad field
    (a condition error carries its ``position``)."""
    return ChartPublic.model_validate(app.triggers.chart(trigger_type=body.trigger_type,
                                                         config=body.trigger_config))


@router.post("/backtest", response_model=BacktestPublic)
def backtest(body: BacktestRequest, user: CurrentUser, app: AppDep) -> BacktestPublic:
    """Every would-be fire of a price or indicator trigger (``trigger_type`` +
    ``trigger_config``, or the saved trigger of the user's job ``job_id``) over ``days``
    (at most 90) ending at ``end``, replayed by the live watcher's own evaluation (bar
    semantics, cooldown, re-arm band, max fires, expiry): time, bar, price and indicator
    values of each, their count and a chart. 422 names the field (``days``, ``end``,
    ``trigger_config.<field>``), 404 for another user's job."""
    result = app.triggers.backtest(user, trigger_type=body.trigger_type,
                                   config=body.trigger_config, job_id=body.job_id,
                                   days=body.days, end=as_utc(body.end, "end"))
    return BacktestPublic.model_validate(result)


@router.get("/jobs/{job_id}", response_model=SchedulePublic)
def get_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> SchedulePublic:
    """One of the user's scheduled jobs, with description and next runs."""
    return _public(app, app.schedules.get(user, job_id))


@router.put("/jobs/{job_id}", response_model=SchedulePublic)
def update_job(job_id: IdPath, body: ScheduleUpdate, user: CurrentUser,
               app: AppDep) -> SchedulePublic:
    """Change the trigger type, config and/or name, validated like create (422 naming the
    field, nothing changed). Same type: the config is merged over the stored one (null
    resets a field); a new type takes the given config, keeping priority and overlap policy.
    The next runs and the market watcher follow at once. A job turned into a webhook job
    gets a new token; get its secret with ``/webhook-secret/rotate``."""
    job = app.schedules.update(user, job_id, trigger_type=body.trigger_type,
                               trigger_config=body.trigger_config, name=body.name)
    return _public(app, job)


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response)
def delete_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> Response:
    """Delete a scheduled job; its past executions stay in history."""
    app.schedules.delete(user, job_id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/toggle", response_model=SchedulePublic)
def toggle_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> SchedulePublic:
    """Pause an active job or resume a paused one (resumed from now, no catch-up)."""
    return _public(app, app.schedules.toggle(user, job_id))


@router.post("/jobs/{job_id}/pause", response_model=SchedulePublic)
def pause_job(job_id: IdPath, body: SchedulePause, user: CurrentUser,
              app: AppDep) -> SchedulePublic:
    """Pause a job with an optional ``note`` and ``resume_at`` (ISO-8601 with zone, in the
    future, within a year): the scheduler resumes it then. 422 names the bad field."""
    return _public(app, app.schedules.pause(user, job_id, note=body.note,
                                            resume_at=body.resume_at))


@router.post("/jobs/{job_id}/resume", response_model=SchedulePublic)
def resume_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> SchedulePublic:
    """Resume a paused job from now; the fire times of the pause are listed as skipped."""
    return _public(app, app.schedules.resume(user, job_id))


@router.post("/jobs/{job_id}/skip", response_model=SchedulePublic,
             responses=error_responses(409))
def skip_runs(job_id: IdPath, body: ScheduleSkip, user: CurrentUser,
              app: AppDep) -> SchedulePublic:
    """Skip the job's next ``count`` runs (0 cancels; ``skipped_runs`` shows which); each is
    listed in the history as skipped. 409 for webhook jobs (pause those instead)."""
    return _public(app, app.schedules.skip(user, job_id, body.count))


@router.post("/jobs/{job_id}/run", response_model=JobPublic, status_code=202,
             responses=error_responses(409, 429))
def run_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> JobPublic:
    """Run the job's workflow now (trigger type ``manual``, the job's priority, listed in
    the job's history, counted against the user's limits like any run); watch
    ``execution_id`` on the WebSocket ``/monitoring/executions/{execution_id}``. 409 when the
    workflow is inactive, 429 names the limit hit."""
    return JobPublic.model_validate(app.queue.view(app.schedules.run_now(user, job_id)))


@router.get("/jobs/{job_id}/history", response_model=ScheduleHistory)
def job_history(job_id: IdPath, user: CurrentUser, app: AppDep,
                page: PageDep) -> ScheduleHistory:
    """The job's executions (newest first, paginated), its recent missed and skipped fire
    times, and ``timeline``: the page's executions with the missed (downtime, misfire),
    skipped (overlap, skip, limit, paused, refused) and failed runs inline, with reasons."""
    data = app.schedules.history(user, job_id, offset=page.offset, limit=page.limit)
    return ScheduleHistory.model_validate({**data, "offset": page.offset, "limit": page.limit})
