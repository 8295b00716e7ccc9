"""The scheduler service: ``python -m agentic_app scheduler``.

``scheduled_jobs`` rows are the truth. Any number of scheduler processes may run; exactly
one is active, holding the Redis lease ``agentic:scheduler:leader`` (a redis-py Lock, see
``engine.leader``, renewed every ``RENEW_EVERY_S``; a leader takes a vanished lease back, and
goes standby at once when another process holds it or Redis does not answer). The active one:

* schedules cron and interval jobs with APScheduler 3 (one ``date`` job per next fire time,
  whose argument is that fire time; fire times come from ``domain.triggers``, DST-correct);
* evaluates price and indicator triggers every ``check_interval_seconds`` with
  :class:`~agentic_app.engine.scheduler.market_watch.TriggerWatcher` (states in ``trigger_states``);
* follows row changes (create, update, pause/resume, delete) within ``sync_interval_s``, and
  resumes paused jobs whose ``resume_at`` has come (``pauses``);
* enqueues every fire through ``firing`` (dedupe key, overlap policy); market-trigger fires
  are keyed by the close of the bar they fired on (two checks of one bar share a key), and a
  tick still re-checks the lease in Redis before enqueueing them (a stalled former leader's
  state may differ from the new leader's, so its fires must not race the new leader's).

Bad rows stay local: any error while scheduling, evaluating or firing ONE job (a corrupt
config, a condition that fails to evaluate, an unexpected exception) is caught for that job,
logged, and stored on its row as ``config_error`` (shown by the API and the scheduler page);
every other job keeps firing. The error is cleared once the job is scheduled again (e.g. after
its config changed) or fires.

Misfires: on activation, a job whose stored ``next_run`` has passed gets at most one catch-up
run (its latest missed fire time, when within ``misfire_grace_seconds``); every other missed
fire time is written to ``missed_runs``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from agentic_app.db.engine import Database
from agentic_app.db.models import CONFIG_ERROR_MAX_LENGTH
from agentic_app.domain.errors import (
    AgenticError,
    InvalidInputError,
)
from agentic_app.domain.schedule_health import DATA_STALE_PREFIX
from agentic_app.domain.triggers import (
    MARKET_TRIGGERS,
    TIME_TRIGGERS,
    TriggerConfig,
    next_fire_times,
    parse_trigger_config,
)
from agentic_app.domain.triggers.bars import next_check_delay
from agentic_app.engine.leader import Lease
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.scheduler import store
from agentic_app.engine.scheduler.data_health import stale_reasons
from agentic_app.engine.scheduler.firing import enqueue_fire, wake_and_next
from agentic_app.engine.scheduler.market_watch import TriggerWatcher
from agentic_app.engine.scheduler.pauses import resume_due
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

LEADER_KEY = "agentic:scheduler:leader"
"""Redis key of the scheduler lease."""
LEASE_TTL_MS = 10_000
"""Lease lifetime; a standby takes over at most this long after the leader dies."""
RENEW_EVERY_S = 2.0
"""How often the leader renews (and a standby retries) the lease."""
TICK_METRICS_KEY = "agentic:metrics:trigger_tick"
"""Redis hash with the timings of the last trigger tick (exported by /metrics)."""
MAX_MISSED_RECORDED = 1000
"""At most this many missed fire times are written per job after one downtime."""


def _same_schedule(a: store.JobSnapshot, b: store.JobSnapshot) -> bool:
    """True when nothing the scheduler acts on changed (a rename or a finished run does not
    reset a market trigger's edge state, fire count or cooldown)."""
    return (a.trigger_type, a.trigger_config, a.is_active, a.workflow_id, a.user_id) == (
        b.trigger_type, b.trigger_config, b.is_active, b.workflow_id, b.user_id)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def problem_text(stage: str, exc: BaseException) -> str:
    """What is stored on a job that failed: ``invalid config: <message>`` for a config the
    trigger model refuses, ``<stage> failed: <type>: <message>`` for anything else."""
    if isinstance(exc, InvalidInputError):
        return f"invalid config: {exc.message}"
    if stage == DATA_STALE_PREFIX:
        return f"{DATA_STALE_PREFIX}: {getattr(exc, 'message', exc)}"
    if isinstance(exc, AgenticError):
        return f"{stage} failed: {exc.message}"
    return f"{stage} failed: {type(exc).__name__}: {exc}"


class SchedulerService:
    """One scheduler process: standby until it holds the lease, then active."""

    def __init__(self, settings: Settings, *, redis_url: str, db: Database | None = None,
                 market=None, now: Callable[[], datetime] = _utcnow,
                 sync_interval_s: float = 1.0, name: str = "scheduler",
                 check_lease: bool = True):
        """A standby scheduler on ``db`` (built once from ``settings`` when not given)."""
        self.settings = settings
        self.db = db if db is not None else Database(settings.database_url)
        self.redis = connect(redis_url)
        self.lease = Lease(self.redis, LEADER_KEY, LEASE_TTL_MS / 1000, owner=name)
        self.now = now
        self.sync_interval_s = sync_interval_s
        self.check_lease = check_lease
        self.market = market
        self.leader = False
        self._stop = threading.Event()
        self._aps: BackgroundScheduler | None = None
        self._watcher: TriggerWatcher | None = None
        self._known: dict[int, store.JobSnapshot] = {}
        self._problems: dict[int, str | None] = {}
        self._failed: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ lifecycle

    def run(self, *, max_seconds: float | None = None) -> None:
        """Run until :meth:`stop` (or ``max_seconds``): hold the lease, schedule while leader."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        try:
            while not self._stop.is_set():
                if deadline and time.monotonic() > deadline:
                    break
                self._lease_step()
                self._stop.wait(RENEW_EVERY_S if self.leader else 1.0)
        finally:
            self._deactivate()
            if self.leader:
                self._release()

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()

    def _lease_step(self) -> None:
        try:
            held = self.lease.take()
        except Exception:  # Redis outage: stop acting as leader, keep trying
            log.warning("scheduler lease check failed", exc_info=True)
            held = False
        if held and not self.leader:
            log.info("scheduler is now ACTIVE (leader)")
            self.leader = True
            self._activate()
        elif not held and self.leader:
            log.warning("scheduler lost the lease: standby")
            self.leader = False
            self._deactivate()

    def _release(self) -> None:
        try:
            self.lease.give_up()
        except Exception:
            log.warning("could not release scheduler lease", exc_info=True)

    def _activate(self) -> None:
        self._aps = BackgroundScheduler(timezone=UTC,
                                        job_defaults={"coalesce": True, "max_instances": 1})
        self._aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._aps.add_job(self._retention, "interval", id="retention", misfire_grace_time=3600,
                          minutes=self.settings.retention.interval_minutes,
                          next_run_time=self.now() + timedelta(minutes=1))
        self._aps.start()
        self._known = {}
        self._problems = {}
        self._failed = set()
        self._watcher = None
        self.sync(startup=True)
        for target, name in ((self._sync_loop, "scheduler-sync"),
                             (self._watch_loop, "scheduler-watch")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _deactivate(self) -> None:
        aps, self._aps = self._aps, None
        if aps is not None:
            aps.shutdown(wait=False)
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def _retention(self) -> None:
        """Purge old finished jobs, their events and RQ results (leader only)."""
        from agentic_app.engine.queue.retention import purge_old

        try:
            counts = purge_old(self.db, self.redis,
                               completed_days=self.settings.retention.completed_days,
                               failed_days=self.settings.retention.failed_days,
                               max_missed_runs=self.settings.schedules.max_missed_runs)
            log.info("retention: %s", counts)
        except Exception:
            log.exception("retention failed")

    def _active(self) -> bool:
        return self.leader and self._aps is not None and not self._stop.is_set()

    # ------------------------------------------------------------------ following rows

    def _sync_loop(self) -> None:
        while self._active():
            self._stop.wait(self.sync_interval_s)
            if not self._active():
                return
            try:
                self.sync()
            except Exception:
                log.exception("scheduler sync failed")

    def sync(self, *, startup: bool = False) -> None:
        """Bring the schedule in line with the scheduled_jobs rows."""
        with self._lock:
            try:  # a pause whose resume time came: resumed here, by the one active scheduler
                resume_due(self.db, self.now(), keep=self.settings.schedules.max_missed_runs,
                           default_timezone=self.settings.scheduler_config.timezone)
            except Exception:
                log.exception("resuming paused jobs failed")
            rows = store.load_jobs(self.db)
            for job_id in set(self._known) - set(rows):
                self._unschedule(self._known.pop(job_id))
                self._problems.pop(job_id, None)
                self._failed.discard(job_id)
            for job_id, row in rows.items():
                self._problems.setdefault(job_id, row.config_error)
                old = self._known.get(job_id)
                if old is not None and _same_schedule(old, row) and job_id not in self._failed:
                    self._known[job_id] = row  # e.g. run counters moved: keep trigger state
                    continue
                if old is not None:
                    self._unschedule(old)
                self._known[job_id] = row
                if row.is_active:
                    self._schedule_row(row, catch_up=startup)

    def _config(self, row: store.JobSnapshot) -> TriggerConfig:
        """The row's validated trigger config; ``InvalidInputError`` when it has none."""
        return parse_trigger_config(row.trigger_type, row.trigger_config,
                                    default_timezone=self.settings.scheduler_config.timezone)

    def _problem(self, job_id: int, stage: str, exc: BaseException | None) -> None:
        """Store (``exc``) or clear (None) the problem of one job; logs and writes only when
        it changes. Never raises: a failing write must not stop the other jobs either."""
        text = problem_text(stage, exc)[:CONFIG_ERROR_MAX_LENGTH] if exc is not None else None
        if self._problems.get(job_id) == text:
            return
        if text is not None:
            log.error("scheduled job %s: %s", job_id, text, exc_info=exc)
        else:
            log.info("scheduled job %s runs again", job_id)
        try:
            store.set_config_error(self.db, job_id, text, redis=self.redis,
                                   settings=self.settings)
            self._problems[job_id] = text
        except Exception:
            log.exception("could not store the problem of scheduled job %s", job_id)

    def _schedule_row(self, row: store.JobSnapshot, *, catch_up: bool) -> None:
        """Schedule one row; any error stays on that row (retried at every sync, in case it
        was transient, e.g. a market feed that could not be built)."""
        try:
            self._schedule(row, catch_up=catch_up)
        except Exception as exc:
            self._failed.add(row.id)
            self._problem(row.id, "scheduling", exc)
        else:
            self._failed.discard(row.id)
            self._problem(row.id, "scheduling", None)

    def _schedule(self, row: store.JobSnapshot, *, catch_up: bool) -> None:
        config = self._config(row)
        if config.type in TIME_TRIGGERS:
            now = self.now()
            if catch_up and row.next_run is not None and row.next_run < now:
                self._catch_up(row, config, now)
            self._schedule_next(row, config, now)
        elif config.type in MARKET_TRIGGERS:
            watcher = self._get_watcher()
            if watcher is not None:
                watcher.upsert(row.id, config.type, config, row.created_at)

    def _unschedule(self, row: store.JobSnapshot) -> None:
        if self._aps is not None and self._aps.get_job(str(row.id)) is not None:
            self._aps.remove_job(str(row.id))
        if self._watcher is not None and self._watcher.watches(row.id):
            self._watcher.remove(row.id)

    def _anchor(self, row: store.JobSnapshot) -> datetime:
        return row.created_at

    def _schedule_next(self, row: store.JobSnapshot, config, after: datetime) -> None:
        when, shown = wake_and_next(config, after, row.id, self._anchor(row))
        store.set_next_run(self.db, row.id, shown)
        if when is None or self._aps is None:
            return
        self._aps.add_job(self._due, "date", run_date=when, args=[row.id, when], id=str(row.id),
                          replace_existing=True,
                          misfire_grace_time=max(1, config.misfire_grace_seconds))

    def _catch_up(self, row: store.JobSnapshot, config, now: datetime) -> None:
        """After downtime: one catch-up run within the grace time; the rest recorded as missed."""
        missed: list[datetime] = []
        after = row.next_run - timedelta(microseconds=1)
        while len(missed) < MAX_MISSED_RECORDED:
            batch = next_fire_times(config, after, 100, jitter_key=str(row.id),
                                    anchor=self._anchor(row))
            batch = [t for t in batch if t <= now]
            missed.extend(batch)
            if len(batch) < 100:
                break
            after = batch[-1]
        if not missed:
            return
        latest = missed[-1]
        grace = timedelta(seconds=config.misfire_grace_seconds)
        if now - latest <= grace:
            store.record_missed(self.db, row.id, missed[:-1], "downtime",
                                "after downtime only the latest fire within the grace time runs",
                                keep=self.settings.schedules.max_missed_runs, redis=self.redis,
                                settings=self.settings)
            log.info("job %s: catch-up run for %s (%d older fire times recorded as missed)",
                     row.id, latest.isoformat(), len(missed) - 1)
            self.fire_guarded(row.id, latest, {"catch_up": True})
        else:
            store.record_missed(self.db, row.id, missed, "downtime",
                                f"beyond the misfire grace time of {grace.total_seconds():g} s",
                                keep=self.settings.schedules.max_missed_runs, redis=self.redis,
                                settings=self.settings)
            log.warning("job %s: %d fire times missed during downtime", row.id, len(missed))

    def _due(self, job_id: int, fire_time: datetime) -> None:
        """APScheduler callback: schedule the following fire, then fire this one."""
        with self._lock:
            row = self._known.get(job_id)
            if row is None or not row.is_active or not self._active():
                return
            try:
                self._schedule_next(row, self._config(row), fire_time)
            except Exception as exc:
                self._problem(job_id, "scheduling", exc)
                return
        self.fire_guarded(job_id, fire_time, {})

    def _on_missed(self, event: JobExecutionEvent) -> None:
        """APScheduler could not run a fire within its grace time (process stalled)."""
        if not str(event.job_id).isdigit():  # the retention job: nothing to record
            return
        job_id = int(event.job_id)
        when = event.scheduled_run_time
        try:
            store.record_missed(self.db, job_id, [when], "misfire",
                                "the scheduler could not run it within the grace time",
                                keep=self.settings.schedules.max_missed_runs, redis=self.redis,
                                settings=self.settings)
            with self._lock:
                row = self._known.get(job_id)
                if row is not None and row.is_active and self._active():
                    self._schedule_next(row, self._config(row), max(when, self.now()))
        except Exception as exc:
            self._problem(job_id, "scheduling", exc)

    # ------------------------------------------------------------------ market triggers

    def _get_watcher(self) -> TriggerWatcher | None:
        cfg = self.settings.scheduler_config
        if self._watcher is None:
            if self.market is None:
                from agentic_app.engine.executor.node_services import build_market

                self.market = build_market(self.settings)
            self._watcher = TriggerWatcher(
                self.market, store.DatabaseTriggerStateStore(self.db),
                check_interval_seconds=cfg.check_interval_seconds)
        return self._watcher

    def _watch_loop(self) -> None:
        interval = self.settings.scheduler_config.check_interval_seconds
        while self._active():
            try:
                self.tick_market()
            except Exception:
                log.exception("trigger tick failed")
            self._stop.wait(next_check_delay(time.time(), interval))  # bar-aligned

    def tick_market(self) -> int:
        """Evaluate price/indicator triggers once; enqueue fires. Returns the number of fires."""
        cfg = self.settings.scheduler_config
        with self._lock:
            watcher = self._watcher
            if watcher is None or len(watcher) == 0:
                return 0
            report = watcher.tick_report(self.now())
            kinds = {jid: row.trigger_type for jid, row in self._known.items()}
        self._publish_tick(report, len(watcher))
        # market fires are keyed by their bar's close, but a stalled former leader's trigger
        # states may differ from the new leader's (another bar, another fire), so the key
        # alone cannot stop it: make sure the lease is still ours before enqueueing
        if report.fires and self.check_lease and not self._still_leader():
            log.warning("lease lost during a trigger tick: %d fires left to the new leader",
                        len(report.fires))
            return 0
        for job_id, message in report.errors.items():
            self._problem(job_id, "evaluation", AgenticError(message))
        self._data_health(report)
        fired = 0
        for f in report.fires:
            kind = kinds.get(f.trigger_id)
            if (kind == "price" and not cfg.enable_price_triggers) or (
                    kind == "indicator" and not cfg.enable_indicator_triggers):
                continue
            fired += self.fire_guarded(f.trigger_id, f.fired_at, f.payload)
        for reason, job_ids in (("expired", report.expired),
                                ("max fires reached", report.exhausted)):
            for job_id in job_ids:
                try:
                    store.deactivate(self.db, job_id, reason)
                except Exception as exc:
                    self._problem(job_id, "deactivation", exc)
        return fired

    def _data_health(self, report) -> None:
        """Mark the market schedules whose symbol had no usable data this check ("data
        stale: ..."; they fired nothing) and clear the mark once data is back."""
        rows = [(jid, row.trigger_type, row.trigger_config) for jid, row in self._known.items()
                if row.is_active]
        for job_id, reason in stale_reasons(report.unavailable, rows).items():
            if reason is not None:
                self._problem(job_id, DATA_STALE_PREFIX, AgenticError(reason))
            elif (self._problems.get(job_id) or "").startswith(DATA_STALE_PREFIX):
                self._problem(job_id, DATA_STALE_PREFIX, None)

    def _still_leader(self) -> bool:
        try:
            held = self.lease.owned()
        except Exception:
            held = False
        if not held:
            self.leader = False
        return held

    def _publish_tick(self, report, triggers: int) -> None:
        try:
            self.redis.hset(TICK_METRICS_KEY, mapping={
                "at": report.at.timestamp(), "triggers": triggers, "fires": len(report.fires),
                "duration_ms": round(report.total_ms, 3), "fetch_ms": round(report.fetch_ms, 3),
                "price_eval_ms": round(report.price_eval_ms, 3),
                "indicator_eval_ms": round(report.indicator_eval_ms, 3),
                "unavailable": len(report.unavailable)})
        except Exception:
            log.debug("could not publish trigger tick metrics", exc_info=True)

    # ------------------------------------------------------------------ firing

    def fire_guarded(self, job_id: int, fire_time: datetime, payload: dict) -> int:
        """:meth:`fire`, with any error stored on the job instead of raised (and a stored
        problem cleared once the job fires again)."""
        try:
            fired = self.fire(job_id, fire_time, payload)
        except Exception as exc:
            self._problem(job_id, "firing", exc)
            return 0
        if fired and self._problems.get(job_id):
            self._problem(job_id, "firing", None)
        return fired

    def fire(self, job_id: int, fire_time: datetime, payload: dict) -> int:
        """Enqueue one fire (deduplicated); returns 1 when an execution was enqueued."""
        row = store.load_job(self.db, job_id)
        if row is None or not row.is_active:
            return 0
        return enqueue_fire(self.db, self.redis, self.settings, row, self._config(row),
                            fire_time, payload)


def run_scheduler(settings: Settings, redis_url: str) -> None:
    """Run a scheduler process until SIGTERM/SIGINT."""
    service = SchedulerService(settings, redis_url=redis_url)

    def _stop(_signum, _frame):
        service.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service.run()
