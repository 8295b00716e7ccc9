"""Alert-only mode: a broker that records the order it is given and sends it as an alert.

An alert-only run (its schedule's or its workflow's ``alert_only`` flag) gets this broker in
place of the real one (paper or live: every order of the run comes here). ``place_order``
validates the order like a real broker (symbol, lot, quantity; an exchange symbol the feed
does not list is recorded without a quote), prices it at the current quote, stores it in
``alert_orders`` (unique per idempotency key, so a retried run alerts once) and hands it to
``send_alert``; nothing is sent to the wrapped broker. Reads (positions, account) go to the
wrapped broker; nothing else of it (cancel, processing open orders) is reachable here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from agentic_app.broker.base import ALERT_ONLY, AccountSnapshot, OrderRequest, OrderResult, Position
from agentic_app.broker.paper import check_lot
from agentic_app.broker.safety import is_halted
from agentic_app.db.engine import Database
from agentic_app.db.trading_models import AlertOrder
from agentic_app.domain.errors import InvalidInputError, LimitExceededError, UnknownSymbolError
from agentic_app.domain.live_trading import KILL_SWITCH

log = logging.getLogger(__name__)

SendAlert = Callable[[AlertOrder], Any]
"""Delivers one would-be order to its user (in-app notification, channels)."""


def describe_order(row: AlertOrder) -> tuple[str, str]:
    """(title, body) of the alert for a would-be order."""
    limit = f" limit {row.limit_price:g}" if row.limit_price is not None else ""
    title = (f"Alert-only: {row.side} {row.quantity:g} {row.symbol} "
             f"{row.order_type}{limit}")[:200]
    price = f" at about {row.quote_price:g}" if row.quote_price is not None else ""
    body = (f"Alert-only mode: the workflow would have placed a {row.order_type} {row.side} "
            f"order for {row.quantity:g} {row.symbol}{limit}{price} (execution "
            f"{row.execution_id}, node {row.node_id}). Nothing was sent to the broker.")
    return title, body


def _result(row: AlertOrder, duplicate: bool = False) -> OrderResult:
    return OrderResult(
        order_id=row.id or 0, idempotency_key=row.idempotency_key, user_id=row.user_id,
        symbol=row.symbol, side=row.side, order_type=row.order_type, quantity=row.quantity,
        limit_price=row.limit_price, status=ALERT_ONLY, filled_quantity=0.0,
        avg_fill_price=None, fee=0.0, created_at=row.created_at, filled_at=None,
        execution_id=row.execution_id, node_id=row.node_id, duplicate=duplicate)


class AlertOnlyBroker:
    """Records orders as alerts, places nothing; see the module docstring."""

    def __init__(self, db: Database, broker: Any, market: Any, send_alert: SendAlert,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._engine = db.engine
        self._broker = broker
        self._market = market
        self._send = send_alert
        self._clock = clock

    def place_order(self, order: OrderRequest) -> OrderResult:
        """Validate and record ``order``, send the alert (once per idempotency key) and
        return it with status ``alert_only``; InvalidInputError for a bad order,
        LimitExceededError (``kill_switch``) while the user's kill switch is engaged."""
        req = order.validated()
        with Session(self._engine) as session:
            if is_halted(session, req.user_id):
                raise LimitExceededError("the kill switch is engaged: no order is placed "
                                         "or alerted until it is re-armed", limit=KILL_SWITCH)
        venue = str(getattr(order, "broker", None) or "paper")
        try:
            instrument = self._market.instrument(req.symbol)
        except UnknownSymbolError:
            if venue == "paper":
                raise
            instrument = None  # an exchange's symbol the feed does not list: no quote
        if instrument is not None:
            check_lot(req.quantity, instrument)
        existing = self.get_order(req.idempotency_key)
        if existing is not None:
            if existing.user_id != req.user_id:
                raise InvalidInputError("idempotency_key is already used by another user",
                                        field="idempotency_key")
            return replace(existing, duplicate=True)
        quote = (self._market.price(instrument.symbol, self._clock() if self._clock else None)
                 if instrument is not None else None)
        row = AlertOrder(
            user_id=req.user_id, execution_id=req.execution_id, node_id=req.node_id,
            idempotency_key=req.idempotency_key,
            symbol=instrument.symbol if instrument is not None else req.symbol,
            side=str(getattr(req.side, "value", req.side)),
            order_type=str(getattr(req.order_type, "value", req.order_type)),
            quantity=req.quantity, limit_price=req.limit_price,
            quote_price=quote.price if quote is not None else None,
            created_at=quote.ts if quote is not None and quote.ts.tzinfo else datetime.now(UTC))
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                session.add(row)
                session.commit()
        except IntegrityError:  # the same key recorded meanwhile: that one was alerted
            again = self.get_order(req.idempotency_key)
            if again is None:
                raise
            return replace(again, duplicate=True)
        try:
            self._send(row)
        except Exception:  # the record stands; a failed delivery must not fail the run
            log.warning("alert of would-be order %s not delivered", row.idempotency_key,
                        exc_info=True)
        return _result(row)

    def get_order(self, idempotency_key: str) -> OrderResult | None:
        """The would-be order recorded with ``idempotency_key``, or None."""
        with Session(self._engine) as session:
            row = session.exec(select(AlertOrder).where(
                AlertOrder.idempotency_key == idempotency_key)).first()
            return _result(row) if row is not None else None

    def positions(self, user_id: int) -> list[Position]:
        """The user's positions at the real broker (read only)."""
        return self._broker.positions(user_id)

    def account(self, user_id: int, venue: str = "paper") -> AccountSnapshot:
        """The user's account at the real broker (read only; ``venue`` as the router's)."""
        if venue == "paper":
            return self._broker.account(user_id)
        return self._broker.account(user_id, venue=venue)
