"""Queue dashboard state: counts, workers, throughput chart, job tabs, cancel and retry."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentic_app.domain.errors import AgenticError
from agentic_app.services.app import MAX_BULK, Actor
from agentic_app.state.base import AppState
from agentic_app.state.common import PAGE_SIZE, app, error_text, fmt_time, parse_id
from agentic_app.state.live import Presence
from agentic_app.state.offloop import off_loop
from agentic_app.state.paging import PagedMixin

TABS = ["pending", "running", "completed", "failed", "cancelled"]
REFRESH_S = 5.0
"""Refresh period of the dashboard figures while the page is open."""


class QueueState(PagedMixin, AppState):
    """The user's queue: figures, one tab of jobs, actions."""

    def _reload(self):
        return QueueState.load_queue

    counts: dict[str, int] = {}
    by_priority: list[dict[str, str]] = []
    workers: list[dict[str, str]] = []
    series: list[dict[str, str | int | float]] = []
    depth: str = ""
    waiting: int = 0
    redis_ok: bool = True
    tab: str = "pending"
    rows: list[dict[str, str]] = []
    loaded: bool = False
    error: str = ""
    bulk_action: str = ""
    refreshing: bool = False

    @rx.var
    def rq_url(self) -> str:
        """rq-dashboard, mounted on the backend."""
        return app().settings.api_base_url.rstrip("/") + "/rq"

    @rx.var
    def bulk_text(self) -> str:
        """What the bulk confirmation is about."""
        if self.bulk_action == "retry":
            return f"Retry all {self.counts.get('failed', 0)} failed job(s)?"
        if self.bulk_action == "cancel":
            return f"Cancel all {self.counts.get('pending', 0)} pending job(s)?"
        return ""

    def _load(self) -> None:
        """Read and show the figures and the current tab (blocking: call it off the loop)."""
        self._apply(_fetch(self._actor(), self.tab, self.page))

    def _apply(self, fetched: dict[str, Any] | AgenticError) -> None:
        """Show what :func:`_fetch` read (or its error)."""
        if isinstance(fetched, AgenticError):
            self.error = error_text(fetched)
            return
        status, rows, series = fetched["status"], fetched["rows"], fetched["series"]
        self.total = fetched["total"]
        self.counts = status["counts"]
        self.by_priority = [{"band": band, **{k: str(v) for k, v in counts.items()}}
                            for band, counts in status["by_priority"].items()]
        self.workers = [{"name": w["name"], "state": w["state"],
                         "queues": ", ".join(w["queues"]), "job": w["current_job_id"] or "—",
                         "heartbeat": fmt_time(w["last_heartbeat"], seconds=True)}
                        for w in status["workers"]]
        q = status["queue"]
        self.depth = f"{q['depth']} / {q['max_queue_size']}"
        self.waiting = status["waiting_for_slot"]
        self.redis_ok = status["redis_ok"]
        self.series = series
        self.rows = [{"id": str(j.id), "execution_id": str(j.execution_id or ""),
                      "workflow_id": str(j.workflow_id), "status": j.status,
                      "priority": str(j.priority), "attempt": str(j.attempt),
                      "retries": f"{j.retry_count}/{j.max_retries}",
                      "created": fmt_time(j.created_at, seconds=True),
                      "error": (j.error_message or "")[:140]} for j in rows]
        self.error, self.loaded = "", True

    @rx.event
    @off_loop
    def load_queue(self):
        """Load the figures and the current tab; start the periodic refresh."""
        if not self._resolve():
            return
        self._load()
        if not self.refreshing:
            return QueueState.auto_refresh

    @rx.event(background=True)
    async def auto_refresh(self):
        """Refresh the dashboard every few seconds while it is open in a connected tab."""
        async with self:
            if self.refreshing:
                return
            self.refreshing = True
            presence = Presence(self.router.session.client_token, self.auth_token)
        try:
            while True:
                await asyncio.sleep(REFRESH_S)
                if await presence.gone_everywhere():
                    return
                async with self:
                    if not str(self.router.url.path).startswith("/queue") or not self.user_id:
                        return
                    actor, tab, page = self._actor(), self.tab, self.page
                fetched = await asyncio.to_thread(_fetch, actor, tab, page)
                async with self:
                    if self.user_id == actor.id and (self.tab, self.page) == (tab, page):
                        self._apply(fetched)
        finally:
            async with self:
                self.refreshing = False

    @rx.event
    def set_tab(self, value: str):
        """Switch tab (first page)."""
        self.tab, self.page = value, 1
        return QueueState.load_queue

    @rx.event
    async def cancel(self, job_id: str):
        """Cancel one of the user's pending or running jobs (the cancel waits up to a grace
        period for a running job to stop: off the event loop)."""
        if not self._resolve():
            return
        try:
            await asyncio.to_thread(app().queue.cancel, self._actor(), parse_id(job_id),
                                    grace_s=1.0)
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        await asyncio.to_thread(self._load)
        return rx.toast.success(f"Job {job_id} cancelled")

    @rx.event
    async def retry(self, job_id: str):
        """Retry one of the user's failed or cancelled jobs (off the event loop)."""
        if not self._resolve():
            return
        try:
            await asyncio.to_thread(app().queue.retry, self._actor(), parse_id(job_id))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        await asyncio.to_thread(self._load)
        return rx.toast.success(f"Job {job_id} re-enqueued")

    @rx.event
    def ask_bulk(self, action: str):
        """Open the confirmation of a bulk action ("retry" or "cancel")."""
        self.bulk_action = action

    @rx.event
    def close_bulk(self):
        """Close the bulk confirmation."""
        self.bulk_action = ""

    @rx.event
    async def run_bulk(self):
        """Retry every failed job, or cancel every pending one (the user's only), off the
        event loop."""
        if not self._resolve() or not self.bulk_action:
            return
        action = self.bulk_action
        try:
            results = await asyncio.to_thread(_bulk, action, self._actor())
        except AgenticError as exc:
            self.bulk_action = ""
            return rx.toast.error(error_text(exc))
        done = sum(1 for r in results if r["ok"])
        errors = [r["reason"] for r in results if not r["ok"]]
        self.bulk_action = ""
        await asyncio.to_thread(self._load)
        verb = "re-enqueued" if action == "retry" else "cancelled"
        if errors:
            return rx.toast.warning(f"{done} job(s) {verb}; {len(errors)} failed: {errors[0]}")
        return rx.toast.success(f"{done} job(s) {verb}")


def _bulk(action: str, actor: Actor) -> list[dict]:
    """Retry (``action`` "retry") every failed job of the user, or cancel every pending one,
    at most MAX_BULK: the facade's per-job results. Blocking: run in a worker thread."""
    queue = app().queue
    if action == "retry":
        return queue.bulk_retry(actor, queue.ids(actor, status="failed", limit=MAX_BULK))
    return queue.bulk_cancel(actor, queue.ids(actor, status="pending", limit=MAX_BULK))


def _fetch(actor: Actor, tab: str, page: int) -> dict[str, Any] | AgenticError:
    """The dashboard figures and one page of a tab, or the error that stopped the read.
    Blocking: run in a worker thread."""
    queue = app().queue
    try:
        status = queue.status(actor, window_minutes=60)
        rows, total = queue.list(actor, statuses=[tab], offset=(page - 1) * PAGE_SIZE,
                                 limit=PAGE_SIZE, oldest_first=tab == "pending")
        series = queue.throughput_series(actor)
    except AgenticError as exc:
        return exc
    return {"status": status, "rows": rows, "total": total, "series": series}
