"""Portfolio states: the account page (``/portfolio``), the orders of one execution (on its
monitor page) and the alert-only switches of a schedule and a workflow. Every load runs off
the event loop (database reads and feed prices)."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentic_app.services.app import Actor, AgenticError
from agentic_app.state.base import AppState
from agentic_app.state.common import PAGE_SIZE, app, error_text, fmt_time, last_path_int
from agentic_app.state.paging import PagedMixin

CURVE_POINTS = 120
"""Points of the equity chart."""


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _qty(value: float | None) -> str:
    return "—" if value is None else f"{value:,.6g}"


def _order_row(o: dict[str, Any]) -> dict[str, str]:
    return {"id": str(o["id"]), "symbol": o["symbol"], "side": o["side"],
            "type": o["order_type"], "quantity": _qty(o["quantity"]), "status": o["status"],
            "price": _qty(o.get("avg_fill_price") or o.get("quote_price")),
            "fee": _money(o.get("fee")), "created": fmt_time(o["created_at"], seconds=True),
            "execution_id": str(o["execution_id"] or ""),
            "schedule_id": str(o["scheduled_job_id"] or ""),
            "fills": str(len(o.get("fills") or []))}


def _position_row(p: dict[str, Any]) -> dict[str, str]:
    return {"symbol": p["symbol"], "quantity": _qty(p["quantity"]),
            "avg_price": _qty(p["avg_price"]), "mark": _qty(p["mark_price"]),
            "value": _money(p["market_value"]), "unrealized": _money(p["unrealized_pnl"]),
            "realized": _money(p["net_realized_pnl"]), "fees": _money(p["fees"])}


def _load(actor: Actor, offset: int) -> tuple[dict, tuple, dict, tuple]:
    services = app()
    return (services.portfolio.summary(actor),
            services.portfolio.orders(actor, offset=offset, limit=PAGE_SIZE),
            services.portfolio.equity(actor, points=CURVE_POINTS),
            services.portfolio.alert_orders(actor, limit=PAGE_SIZE))


class PortfolioState(PagedMixin, AppState):
    """The paper account: figures, positions, orders (paged), equity curve, alert orders."""

    def _reload(self):
        return PortfolioState.load_portfolio

    summary: dict[str, str] = {}
    positions: list[dict[str, str]] = []
    orders: list[dict[str, str]] = []
    alert_orders: list[dict[str, str]] = []
    curve: list[dict[str, Any]] = []
    error: str = ""
    loaded: bool = False

    @rx.event
    async def load_portfolio(self):
        """Load the account, a page of its orders, the equity curve and the alert orders."""
        if not self._resolve():
            return
        try:
            summary, (orders, total), curve, (alerts, _) = await asyncio.to_thread(
                _load, self._actor(), (self.page - 1) * PAGE_SIZE)
        except AgenticError as exc:
            self.error, self.loaded = error_text(exc), True
            return
        self.summary = {
            "account": summary["account"], "currency": summary["currency"],
            "at": fmt_time(summary["at"], seconds=True),
            **{k: _money(summary[k]) for k in (
                "cash", "equity", "starting_cash", "realized_pnl", "fees", "net_realized_pnl",
                "unrealized_pnl", "total_pnl")},
            "pnl_sign": "red" if summary["total_pnl"] < 0 else "green",
            "unpriced": ", ".join(summary["unpriced"]), "fills": str(summary["fill_count"]),
            "truncated": "yes" if summary.get("truncated") else "",
            "open_orders": str(summary["open_orders"])}
        self.positions = [_position_row(p) for p in summary["positions"]]
        self.total = total
        self.orders = [_order_row(o) for o in orders]
        self.alert_orders = [_order_row({**a, "status": "alert-only"}) for a in alerts]
        self.curve = [{"t": fmt_time(p["ts"]), "equity": round(p["equity"], 2)}
                      for p in curve["points"]]
        self.error, self.loaded = "", True


class ExecutionOrdersState(AppState):
    """What the execution on the page placed (``/monitor/[execution_id]``)."""

    orders: list[dict[str, str]] = []
    alert_orders: list[dict[str, str]] = []
    alert_only: bool = False

    @rx.event
    async def load_execution_orders(self):
        """Load the orders (and would-be orders) of the page's execution (owner only)."""
        if not self._resolve():
            return
        execution_id = last_path_int(self)
        try:
            found = await asyncio.to_thread(app().portfolio.execution_orders, self._actor(),
                                            execution_id)
        except AgenticError:
            self.orders, self.alert_orders, self.alert_only = [], [], False
            return
        self.orders = [_order_row(o) for o in found["orders"]]
        self.alert_orders = [_order_row({**a, "status": "alert-only"})
                             for a in found["alert_orders"]]
        self.alert_only = bool(found["alert_only"])


class AlertModeState(AppState):
    """The alert-only switch of the schedule on the page (``/scheduler/[job_id]``) and of
    workflows (by id)."""

    last_change: str = ""

    @rx.event
    async def set_job_alert_only(self, value: bool):
        """Switch alert-only mode of the page's scheduled job."""
        if not self._resolve():
            return
        job_id = last_path_int(self)
        try:
            await asyncio.to_thread(app().alert_mode.set_schedule, self._actor(), job_id,
                                    value is True)
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.last_change = f"job {job_id}: {'on' if value is True else 'off'}"
        from agentic_app.state.job_history import JobHistoryState

        return [JobHistoryState.load_history,
                rx.toast.info("Alert-only mode " + ("on" if value is True else "off"))]

    @rx.event
    async def set_workflow_alert_only(self, workflow_id: str, value: bool):
        """Switch alert-only mode of one of the user's workflows."""
        if not self._resolve():
            return
        try:
            wf_id = int(workflow_id)
            await asyncio.to_thread(app().alert_mode.set_workflow, self._actor(), wf_id,
                                    value is True)
        except ValueError:
            return rx.toast.error("workflow_id must be a number")
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.last_change = f"workflow {wf_id}: {'on' if value is True else 'off'}"
        from agentic_app.state.workflows import WorkflowsState

        return [WorkflowsState.load_workflows,
                rx.toast.info("Alert-only mode " + ("on" if value is True else "off"))]
