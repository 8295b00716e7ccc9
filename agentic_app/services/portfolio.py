"""The portfolio: per account, open positions, cash, orders and fills, realized and
unrealized P&L, fees and the equity curve; the orders an execution placed.

Figures are replayed from the account's fills with :mod:`agentic_app.domain.pnl` (average
cost) and marked at the market feed's current prices. One account today: ``paper`` (the
paper broker). A symbol the feed cannot price stays listed, unmarked (``mark_price`` null,
named in ``unpriced``): one bad symbol never hides the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from agentic_app.db.models import WorkflowExecution, utcnow
from agentic_app.db.trading_models import AlertOrder, PaperAccount, PaperFill, PaperOrder
from agentic_app.domain.errors import AgenticError, NotFoundError
from agentic_app.domain.indicators import TIMEFRAMES
from agentic_app.domain.pnl import Fill, equity_curve, replay
from agentic_app.services.base import Actor, Service

log = logging.getLogger(__name__)

ACCOUNTS = ("paper",)
"""The accounts a user has: the paper broker's."""
MAX_CURVE_POINTS = 500
"""Most points an equity curve may ask for."""
MAX_FILLS = 100_000
"""Most fills replayed for one account (older accounts: the newest are kept, and the figures
say ``truncated``: replayed from starting cash, they are not the account's true P&L)."""


def _check_account(account: str) -> None:
    if account not in ACCOUNTS:
        raise NotFoundError(f"no account {account!r}; accounts: {', '.join(ACCOUNTS)}",
                            field="account")


def _order_view(order: PaperOrder, fills: list[PaperFill], scheduled_job_id: int | None,
                workflow_id: int | None) -> dict[str, Any]:
    data = order.model_dump()
    data.update(scheduled_job_id=scheduled_job_id, workflow_id=workflow_id,
                fills=[f.model_dump(exclude={"user_id"}) for f in fills])
    return data


def _linked(model: Any, actor: Actor) -> Any:
    """The user's rows of ``model`` (paper or alert orders) with the schedule and workflow of
    the execution that made each (outer join: an order may have none)."""
    return (select(model, WorkflowExecution.scheduled_job_id, WorkflowExecution.workflow_id)
            .join(WorkflowExecution, col(WorkflowExecution.id) == model.execution_id,
                  isouter=True)
            .where(model.user_id == actor.id))


def _page(session: Any, stmt: Any, model: Any, offset: int, limit: int) -> tuple[list, int]:
    """(rows newest first, total) of ``stmt``."""
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = list(session.exec(stmt.order_by(col(model.id).desc()).offset(offset).limit(limit)))
    return rows, int(total)


class PortfolioService(Service):
    """The acting user's accounts, positions, orders, fills and P&L."""

    def accounts(self, actor: Actor) -> list[dict[str, Any]]:
        """Every account of the user with its summary."""
        return [self.summary(actor, name) for name in ACCOUNTS]

    # -- figures ----------------------------------------------------------------------------

    def _contract_size(self, symbol: str) -> float:
        try:
            return float(self._app.market.instrument(symbol).contract_size or 1.0)
        except AgenticError:
            return 1.0

    def _fills(self, actor: Actor) -> tuple[float, str, list[Fill], bool]:
        """(starting cash, currency, fills oldest first, truncated) of the user's paper
        account; truncated: it has more than ``MAX_FILLS`` fills, the oldest left out."""
        paper = self.settings.paper
        with self.db.session() as s:
            acct = s.exec(select(PaperAccount).where(PaperAccount.user_id == actor.id)).first()
            rows = list(s.exec(select(PaperFill).where(PaperFill.user_id == actor.id)
                               .order_by(col(PaperFill.id).desc()).limit(MAX_FILLS + 1)))
        truncated = len(rows) > MAX_FILLS
        rows = rows[:MAX_FILLS]
        rows.reverse()
        sizes = {sym: self._contract_size(sym) for sym in {r.symbol for r in rows}}
        fills = [Fill(symbol=r.symbol, side=r.side, quantity=r.quantity, price=r.price,
                      fee=r.fee, ts=r.ts, contract_size=sizes[r.symbol]) for r in rows]
        starting = acct.starting_cash if acct else paper.starting_cash
        return starting, (acct.currency if acct else paper.currency), fills, truncated

    def _marks(self, symbols: list[str]) -> tuple[dict[str, float], datetime]:
        """Current prices of ``symbols`` (those the feed can price) and the feed's time."""
        marks: dict[str, float] = {}
        now = None
        for symbol in symbols:
            try:
                quote = self._app.market.price(symbol)
            except Exception:  # one bad symbol stays unmarked, the others are shown
                log.warning("portfolio: no price for %s", symbol, exc_info=True)
                continue
            marks[symbol] = float(quote.price)
            now = quote.ts if now is None else max(now, quote.ts)
        return marks, now or utcnow()

    def summary(self, actor: Actor, account: str = "paper") -> dict[str, Any]:
        """Cash, equity, realized (gross and net of fees) and unrealized P&L, fees, and the
        open positions marked at the feed's current prices."""
        _check_account(account)
        starting, currency, fills, truncated = self._fills(actor)
        book = replay(starting, fills)
        open_symbols = [p.symbol for p in book.open_positions()]
        marks, at = self._marks(open_symbols)
        book.mark(marks)
        with self.db.session() as s:
            open_orders = s.exec(select(func.count()).select_from(PaperOrder).where(
                PaperOrder.user_id == actor.id, PaperOrder.status == "open")).one()
        return {"account": account, "currency": currency, "at": at, **book.summary(),
                "positions": [p.to_dict() for p in book.open_positions()],
                "closed_positions": [p.to_dict() for _, p in sorted(book.positions.items())
                                     if p.quantity == 0],
                "unpriced": [s for s in open_symbols if s not in marks],
                "fill_count": len(fills), "truncated": truncated,
                "open_orders": int(open_orders)}

    def equity(self, actor: Actor, account: str = "paper", *, points: int = 100) -> dict:
        """The equity curve: ``points`` samples from the first fill to now, positions marked
        at the feed's bar closes (their last fill price where the feed has no bar) and, at
        now, at the current price (so the last point is the summary's equity)."""
        _check_account(account)
        points = max(2, min(int(points), MAX_CURVE_POINTS))
        starting, currency, fills, truncated = self._fills(actor)
        symbols = sorted({f.symbol for f in fills})
        marks, now = self._marks(symbols) if symbols else ({}, utcnow())
        start = min((f.ts for f in fills if f.ts is not None), default=now)
        now = max(now, max((f.ts for f in fills if f.ts is not None), default=now))
        span = max((now - start).total_seconds(), 1.0)
        step = span / (points - 1)
        times = [start + timedelta(seconds=step * i) for i in range(points)]
        prices = {sym: self._bar_closes(sym, step, points, now) for sym in symbols}
        for sym, mark in marks.items():  # the last point is marked like the summary
            series = prices[sym]
            if not series or series[-1][0] < now:
                series.append((now, mark))
        curve = equity_curve(starting, fills, times, prices)
        return {"account": account, "currency": currency, "starting_cash": starting,
                "truncated": truncated, "points": [{**p, "ts": p["ts"]} for p in curve]}

    def _bar_closes(self, symbol: str, step_s: float, points: int,
                    end: datetime) -> list[tuple[datetime, float]]:
        """(close time, close) of the bars covering the curve, at the largest timeframe not
        longer than a step; [] when the feed has none (failure stays local)."""
        frames = sorted(TIMEFRAMES.items(), key=lambda kv: kv[1])
        name, seconds = frames[0]
        for frame, length in frames:
            if length <= step_s:
                name, seconds = frame, length
        count = min(int(points * step_s / seconds) + 2, 5000)
        try:
            bars = self._app.market.bars(symbol, name, count, end=end)
        except Exception:
            log.warning("portfolio: no bars for %s", symbol, exc_info=True)
            return []
        return [(datetime.fromtimestamp(int(t) + seconds, end.tzinfo), float(c))
                for t, c in zip(bars.ts, bars.close, strict=True)]

    # -- orders -----------------------------------------------------------------------------

    def orders(self, actor: Actor, account: str = "paper", *, offset: int = 0, limit: int = 50,
               execution_id: int | None = None, scheduled_job_id: int | None = None,
               status: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """The user's orders, newest first, each with its fills, execution and schedule;
        (rows, total)."""
        _check_account(account)
        with self.db.session() as s:
            stmt = _linked(PaperOrder, actor)
            if execution_id is not None:
                stmt = stmt.where(PaperOrder.execution_id == execution_id)
            if scheduled_job_id is not None:
                stmt = stmt.where(WorkflowExecution.scheduled_job_id == scheduled_job_id)
            if status is not None:
                stmt = stmt.where(PaperOrder.status == status)
            rows, total = _page(s, stmt, PaperOrder, offset, limit)
            ids = [o.id for o, _, _ in rows]
            fills: dict[int, list[PaperFill]] = {}
            if ids:
                for f in s.exec(select(PaperFill).where(col(PaperFill.order_id).in_(ids))
                                .order_by(col(PaperFill.id))):
                    fills.setdefault(f.order_id, []).append(f)
            return [_order_view(o, fills.get(o.id, []), sj, wf) for o, sj, wf in rows], total

    def execution_orders(self, actor: Actor, execution_id: int) -> dict[str, Any]:
        """The orders one of the user's executions placed (with fills) and, for an alert-only
        run, the orders it would have placed; NotFoundError for another user's execution."""
        execution = self._app.monitoring.owned(actor, execution_id)
        orders, _ = self.orders(actor, execution_id=execution_id, limit=500)
        alerts, _ = self.alert_orders(actor, execution_id=execution_id, limit=500)
        return {"execution_id": execution_id, "scheduled_job_id": execution.scheduled_job_id,
                "workflow_id": execution.workflow_id, "alert_only": execution.alert_only,
                "orders": orders, "alert_orders": alerts}

    def alert_orders(self, actor: Actor, *, execution_id: int | None = None, offset: int = 0,
                     limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """Orders alert-only runs recorded and sent as alerts instead of placing, newest
        first; (rows, total)."""
        with self.db.session() as s:
            stmt = _linked(AlertOrder, actor)
            if execution_id is not None:
                stmt = stmt.where(AlertOrder.execution_id == execution_id)
            rows, total = _page(s, stmt, AlertOrder, offset, limit)
            return ([{**a.model_dump(), "scheduled_job_id": sj, "workflow_id": wf}
                     for a, sj, wf in rows], total)
