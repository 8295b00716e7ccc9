"""The kill switch: stop all of a user's automated trading at once, and re-arm it.

Engaging it, in this order (each step's failures are recorded, none stops the others):
the halt is stored first (from then on no run starts and no order - paper or live - is
placed), every active schedule is paused (the user's own pause, note "kill switch"; paused
ones lose their resume time), pending queued runs are cancelled, open paper
orders are cancelled, and open orders on each exchange the user has a credential for are
cancelled (a bulk at a time until none is left; a run a cancel missed is cancelled when a
worker claims it, see ``engine/runtime/tasks.py``). What happened is kept in
``trading_halts.report`` and sent as a ``kill_switch`` alert (inbox, bell, channels).
Re-arming lifts the halt; paused schedules stay paused until the user resumes them.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import select

from agentic_app.db.broker_models import ExchangeCredential, TradingHalt
from agentic_app.db.models import ScheduledJob, utcnow
from agentic_app.domain.errors import AgenticError
from agentic_app.engine.scheduler.pauses import pause_job
from agentic_app.services.base import Actor, Service
from agentic_app.services.queue import MAX_BULK

log = logging.getLogger(__name__)

PAUSE_NOTE = "kill switch"
"""Pause note of the schedules the kill switch paused (a pause of the user's own)."""
MAX_REASON = 500
"""Longest reason kept."""


def halt_view(row: TradingHalt | None) -> dict[str, Any]:
    """The kill switch as the UI and API show it."""
    if row is None:
        return {"engaged": False, "reason": "", "engaged_at": None, "rearmed_at": None,
                "report": {}}
    return {"engaged": row.engaged, "reason": row.reason, "engaged_at": row.engaged_at,
            "rearmed_at": row.rearmed_at, "report": row.report or {}}


def _error(exc: BaseException) -> str:
    return exc.message if isinstance(exc, AgenticError) else f"{type(exc).__name__}: {exc}"


class KillSwitchService(Service):
    """Engage, inspect and re-arm the acting user's kill switch."""

    def status(self, actor: Actor) -> dict[str, Any]:
        """The user's kill switch."""
        with self.db.session() as s:
            return halt_view(s.get(TradingHalt, actor.id))

    def engage(self, actor: Actor, reason: str = "") -> dict[str, Any]:
        """Halt the user's trading (see the module docstring); the resulting view."""
        if not isinstance(reason, str):
            reason = ""
        now = utcnow()
        with self.db.session() as s:
            row = s.get(TradingHalt, actor.id) or TradingHalt(user_id=actor.id)
            row.engaged, row.engaged_at = True, now
            row.reason = reason.strip()[:MAX_REASON] or "engaged by the user"
            s.add(row)
        report: dict[str, Any] = {"at": now.isoformat(), "errors": []}
        for step in (self._pause_schedules, self._cancel_jobs, self._cancel_paper,
                     self._cancel_live):
            try:
                step(actor, report)
            except Exception as exc:  # one step's failure is recorded, the others go on
                log.warning("kill switch step %s failed", step.__name__, exc_info=True)
                report["errors"].append(f"{step.__name__.strip('_')}: {_error(exc)}")
        with self.db.session() as s:
            row = s.get(TradingHalt, actor.id)
            assert row is not None
            row.report = report
            s.add(row)
        try:  # inbox and bell, and every channel routing kill_switch
            self._app.alerts.emit(
                actor, "kill_switch", "Kill switch engaged",
                f"{len(report.get('paused_schedules', []))} schedule(s) paused, "
                f"{report.get('cancelled_jobs', 0)} queued run(s) cancelled, "
                f"{len(report.get('cancelled_paper_orders', []))} paper and "
                f"{sum(len(v) for v in report.get('cancelled_live_orders', {}).values())}"
                f" live order(s) cancelled; {len(report['errors'])} error(s).")
        except Exception:  # the halt and its report stand; the alert is best effort
            log.warning("kill switch alert not recorded", exc_info=True)
        return self.status(actor)

    def rearm(self, actor: Actor) -> dict[str, Any]:
        """Lift the halt (schedules stay paused until resumed one by one)."""
        with self.db.session() as s:
            row = s.get(TradingHalt, actor.id)
            if row is not None and row.engaged:
                row.engaged, row.rearmed_at = False, utcnow()
                s.add(row)
        return self.status(actor)

    # -- steps ------------------------------------------------------------------------------

    def _pause_schedules(self, actor: Actor, report: dict[str, Any]) -> None:
        """Pause every active schedule as the user's own pause (note: the kill switch), and
        drop the resume time of paused ones so none comes back while trading is halted."""
        now = utcnow()
        with self.db.session() as s:
            jobs = s.exec(select(ScheduledJob).where(ScheduledJob.user_id == actor.id)).all()
            paused, kept = [], []
            for job in jobs:
                if job.is_active:
                    pause_job(job, now, note=PAUSE_NOTE)
                    job.next_run = None
                    paused.append(int(job.id))  # type: ignore[arg-type]
                elif job.resume_at is not None:
                    job.resume_at, job.updated_at = None, now
                    kept.append(int(job.id))  # type: ignore[arg-type]
                s.add(job)
            report["paused_schedules"] = paused
            report["resume_cancelled"] = kept

    def _cancel_jobs(self, actor: Actor, report: dict[str, Any]) -> None:
        """Cancel every pending run, a bulk (MAX_BULK) at a time until none is left that was
        not tried; one still pending after a failed cancel is refused at its claim."""
        queue, tried, cancelled = self._app.queue, set[int](), 0
        while True:
            ids = [i for i in queue.ids(actor, status="pending", limit=len(tried) + MAX_BULK)
                   if i not in tried][:MAX_BULK]
            if not ids:
                break
            tried.update(ids)
            results = queue.bulk_cancel(actor, ids, grace_s=0.0)
            cancelled += sum(1 for r in results if r["ok"])
        report["cancelled_jobs"] = cancelled

    def _cancel_paper(self, actor: Actor, report: dict[str, Any]) -> None:
        paper = self._app.node_services.broker.paper
        done = report.setdefault("cancelled_paper_orders", [])
        for order in paper.orders(actor.id, status="open", limit=10_000):
            try:
                paper.cancel_order(order.idempotency_key)
                done.append(order.order_id)
            except Exception as exc:  # the next order still gets cancelled
                report["errors"].append(f"paper order {order.order_id}: {_error(exc)}")

    def _cancel_live(self, actor: Actor, report: dict[str, Any]) -> None:
        live = self._app.node_services.broker.live
        done = report.setdefault("cancelled_live_orders", {})
        with self.db.session() as s:
            exchanges = list(s.exec(select(ExchangeCredential.exchange).where(
                ExchangeCredential.user_id == actor.id)))
        for exchange in exchanges:
            try:
                result = live.for_user(actor.id, exchange).cancel_all()
            except Exception as exc:  # the next exchange still gets its orders cancelled
                report["errors"].append(f"{exchange}: {_error(exc)}")
                continue
            done[exchange] = result["cancelled"]
            report["errors"].extend(f"{exchange}: {e}" for e in result["errors"])
