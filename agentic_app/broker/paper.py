"""The paper broker: simulated fills at the market feed's price plus slippage, kept in the DB.

Accounting (cash accounting, netting positions, average cost): the rules and the math are
in :mod:`agentic_app.domain.pnl` (``apply_fill``, ``fill_fee``); a position row's
``realized_pnl`` is net of the fees of its fills. Fees (``fee_bps`` of the notional plus
``fee_per_fill``) and slippage (``slippage_bps``) come from the ``PAPER__*`` settings.

Idempotency: ``paper_orders.idempotency_key`` is UNIQUE. The order row is inserted first, in
the same transaction as its fill, so of two processes racing with one key exactly one insert
succeeds; the loser catches the IntegrityError and returns the winner's order (``duplicate``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentic_app.broker.base import (
    AccountSnapshot,
    OrderRequest,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)
from agentic_app.db.engine import Database
from agentic_app.db.trading_models import PaperAccount, PaperFill, PaperOrder, PaperPosition
from agentic_app.domain.errors import InvalidInputError, NotFoundError
from agentic_app.domain.pnl import apply_fill, fill_fee
from agentic_app.market.base import Instrument, MarketData


def fill_price(side: str, order_type: str, limit_price: float | None, market_price: float,
               slippage_bps: float) -> float | None:
    """The price an order trades at now, or None when a limit order is not marketable.

    Buys pay ``market_price x (1 + bps/1e4)``, sells receive ``market_price x (1 - bps/1e4)``;
    a limit order fills only when that price is at or better than its limit.
    """
    slip = slippage_bps / 1e4
    price = market_price * (1 + slip) if side == OrderSide.buy.value else market_price * (1 - slip)
    if order_type == OrderType.limit.value and limit_price is not None:
        if side == OrderSide.buy.value and price > limit_price:
            return None
        if side == OrderSide.sell.value and price < limit_price:
            return None
    return price


def _to_result(row: PaperOrder, duplicate: bool = False) -> OrderResult:
    return OrderResult(
        order_id=row.id or 0,
        idempotency_key=row.idempotency_key,
        user_id=row.user_id,
        symbol=row.symbol,
        side=row.side,
        order_type=row.order_type,
        quantity=row.quantity,
        limit_price=row.limit_price,
        status=row.status,
        filled_quantity=row.filled_quantity,
        avg_fill_price=row.avg_fill_price,
        fee=row.fee,
        created_at=row.created_at,
        filled_at=row.filled_at,
        execution_id=row.execution_id,
        node_id=row.node_id,
        duplicate=duplicate,
    )


def check_lot(quantity: float, instrument: Instrument) -> None:
    """InvalidInputError(field="quantity") unless ``quantity`` is >= min_lot and on the lot step."""
    step = float(getattr(instrument, "lot_step", 0) or 0)
    min_lot = float(getattr(instrument, "min_lot", 0) or 0)
    if quantity < min_lot * (1 - 1e-9):
        raise InvalidInputError(
            f"quantity {quantity} is below the minimum lot {min_lot} of {instrument.symbol}",
            field="quantity",
        )
    if step > 0:
        steps = quantity / step
        if abs(steps - round(steps)) > 1e-6:
            raise InvalidInputError(
                f"quantity {quantity} is not a multiple of the lot step {step} of "
                f"{instrument.symbol}",
                field="quantity",
            )


class PaperBroker:
    """A :class:`~agentic_app.broker.base.Broker` that simulates fills and persists everything.

    ``clock`` (a zero-argument callable returning aware UTC time) pins "now"; without one the
    feed's own clock decides (the broker asks for the price at ``None``) and fill times are
    the quotes' times. ``fee_bps`` charges a fee on each fill's notional and
    ``fee_per_fill`` a fixed amount per fill (default none).
    """

    def __init__(
        self,
        db: Database,
        market: MarketData,
        slippage_bps: float = 1.0,
        starting_cash: float = 100_000.0,
        clock: Callable[[], datetime] | None = None,
        *,
        fee_bps: float = 0.0,
        fee_per_fill: float = 0.0,
        currency: str = "USD",
    ):
        for name, value in (("slippage_bps", slippage_bps), ("fee_bps", fee_bps),
                            ("fee_per_fill", fee_per_fill)):
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name} must be >= 0, got {value}", field=name)
        if not math.isfinite(starting_cash) or starting_cash < 0:
            raise InvalidInputError("starting_cash must be >= 0", field="starting_cash")
        self._engine = db.engine
        self._market = market
        self.slippage_bps = float(slippage_bps)
        self.fee_bps = float(fee_bps)
        self.fee_per_fill = float(fee_per_fill)
        self.starting_cash = float(starting_cash)
        self.currency = currency
        self._clock = clock

    # -- orders -----------------------------------------------------------------------------

    def place_order(self, order: OrderRequest) -> OrderResult:
        """Place ``order`` (once per idempotency key); market orders fill now, limits may rest.

        Raises InvalidInputError (naming the field) for a bad order, UnknownSymbolError for a
        symbol the feed does not know, NotFoundError for an unknown user; nothing is written
        then. A key that already exists returns that order with ``duplicate=True``.
        """
        req = order.validated()
        instrument = self._market.instrument(req.symbol)
        check_lot(req.quantity, instrument)
        existing = self._existing(req)
        if existing is not None:
            return existing
        quote = self._market.price(instrument.symbol, self._now())
        self._ensure_account(req.user_id)
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                row = PaperOrder(
                    user_id=req.user_id,
                    symbol=instrument.symbol,
                    side=str(req.side.value),  # type: ignore[union-attr]
                    order_type=str(req.order_type.value),  # type: ignore[union-attr]
                    quantity=req.quantity,
                    limit_price=req.limit_price,
                    status=OrderStatus.new.value,
                    idempotency_key=req.idempotency_key,
                    execution_id=req.execution_id,
                    node_id=req.node_id,
                    created_at=quote.ts,
                )
                session.add(row)
                session.flush()  # the UNIQUE key is checked here, before any money moves
                price = fill_price(row.side, row.order_type, row.limit_price, quote.price,
                                   self.slippage_bps)
                if price is None:
                    row.status = OrderStatus.open.value
                else:
                    self._fill(session, row, price, quote.ts, instrument)
                session.commit()
                return _to_result(row)
        except IntegrityError:
            existing = self._existing(req)
            if existing is None:
                raise
            return existing

    def get_order(self, idempotency_key: str) -> OrderResult | None:
        """The order placed with ``idempotency_key``, or None."""
        with Session(self._engine) as session:
            row = session.exec(
                select(PaperOrder).where(PaperOrder.idempotency_key == idempotency_key)
            ).first()
            return _to_result(row) if row is not None else None

    def orders(
        self, user_id: int, status: str | None = None, limit: int = 100
    ) -> list[OrderResult]:
        """The user's orders, newest first, optionally of one status."""
        with Session(self._engine) as session:
            query = select(PaperOrder).where(PaperOrder.user_id == user_id)
            if status is not None:
                query = query.where(PaperOrder.status == status)
            query = query.order_by(col(PaperOrder.id).desc()).limit(limit)
            return [_to_result(row) for row in session.exec(query)]

    def cancel_order(self, idempotency_key: str) -> OrderResult:
        """Cancel an open (resting limit) order; InvalidInputError if it is not open."""
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.exec(
                select(PaperOrder)
                .where(PaperOrder.idempotency_key == idempotency_key)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFoundError(f"no order with key {idempotency_key!r}",
                                    field="idempotency_key")
            if row.status != OrderStatus.open.value:
                raise InvalidInputError(f"order {idempotency_key!r} is {row.status}, not open",
                                        field="idempotency_key")
            row.status = OrderStatus.cancelled.value
            session.commit()
            return _to_result(row)

    def process_open_orders(
        self, at: datetime | None = None, user_id: int | None = None
    ) -> list[OrderResult]:
        """Fill every open limit order whose price has been reached at ``at``; return those."""
        with Session(self._engine) as session:
            query = select(PaperOrder.id).where(PaperOrder.status == OrderStatus.open.value)
            if user_id is not None:
                query = query.where(PaperOrder.user_id == user_id)
            ids = list(session.exec(query.order_by(col(PaperOrder.id))))
        at = at or self._now()
        filled = []
        for order_id in ids:
            result = self._try_fill_open(order_id, at)
            if result is not None:
                filled.append(result)
        return filled

    # -- account ----------------------------------------------------------------------------

    def positions(self, user_id: int, at: datetime | None = None) -> list[Position]:
        """The user's non-zero positions, marked at ``at`` (default: now)."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(PaperPosition)
                .where(PaperPosition.user_id == user_id, PaperPosition.quantity != 0)
                .order_by(col(PaperPosition.symbol))
            ).all()
        at = at or self._now()
        out = []
        for row in rows:
            contract = self._contract_size(self._market.instrument(row.symbol))
            mark = self._market.price(row.symbol, at).price
            out.append(Position(
                symbol=row.symbol,
                quantity=row.quantity,
                avg_price=row.avg_price,
                realized_pnl=row.realized_pnl,
                mark_price=mark,
                market_value=row.quantity * mark * contract,
                unrealized_pnl=row.quantity * (mark - row.avg_price) * contract,
            ))
        return out

    def account(self, user_id: int, at: datetime | None = None) -> AccountSnapshot:
        """Cash, equity (cash + marked positions) and P&L at ``at`` (default: now).

        A user who never traded has the starting cash (nothing is written by reading).
        """
        at = at or self._now()
        with Session(self._engine) as session:
            acct = session.exec(
                select(PaperAccount).where(PaperAccount.user_id == user_id)
            ).first()
            realized = sum(session.exec(
                select(PaperPosition.realized_pnl).where(PaperPosition.user_id == user_id)
            ).all())
        cash = acct.cash if acct else self.starting_cash
        starting = acct.starting_cash if acct else self.starting_cash
        positions = self.positions(user_id, at)
        return AccountSnapshot(
            user_id=user_id,
            equity=cash + sum(p.market_value for p in positions),
            cash=cash,
            unrealized_pnl=sum(p.unrealized_pnl for p in positions),
            realized_pnl=float(realized),
            starting_cash=starting,
            currency=acct.currency if acct else self.currency,
            at=at or datetime.now(UTC),
            positions=positions,
        )

    # -- internals --------------------------------------------------------------------------

    def _now(self) -> datetime | None:
        return self._clock() if self._clock is not None else None

    @staticmethod
    def _contract_size(instrument: Instrument) -> float:
        return float(getattr(instrument, "contract_size", 1.0) or 1.0)

    def _existing(self, req: OrderRequest) -> OrderResult | None:
        existing = self.get_order(req.idempotency_key)
        if existing is None:
            return None
        if existing.user_id != req.user_id:
            raise InvalidInputError("idempotency_key is already used by another user",
                                    field="idempotency_key")
        return replace(existing, duplicate=True)

    def _ensure_account(self, user_id: int) -> None:
        """Create the user's account with the starting cash unless it exists."""
        with Session(self._engine) as session:
            found = session.exec(
                select(PaperAccount.id).where(PaperAccount.user_id == user_id)
            ).first()
            if found is not None:
                return
            session.add(PaperAccount(user_id=user_id, cash=self.starting_cash,
                                     starting_cash=self.starting_cash, currency=self.currency))
            try:
                session.commit()
                return
            except IntegrityError:
                session.rollback()
            if session.exec(
                select(PaperAccount.id).where(PaperAccount.user_id == user_id)
            ).first() is None:
                raise NotFoundError(f"unknown user {user_id}", field="user_id")

    def _fill(self, session: Session, order: PaperOrder, price: float, ts: datetime,
              instrument: Instrument) -> None:
        """Fill ``order`` entirely at ``price``: fill row, position, cash, order status."""
        contract = self._contract_size(instrument)
        account = session.exec(
            select(PaperAccount).where(PaperAccount.user_id == order.user_id).with_for_update()
        ).one()
        position = session.exec(
            select(PaperPosition)
            .where(PaperPosition.user_id == order.user_id, PaperPosition.symbol == order.symbol)
            .with_for_update()
        ).first()
        if position is None:
            position = PaperPosition(user_id=order.user_id, symbol=order.symbol)
        signed = order.quantity if order.side == OrderSide.buy.value else -order.quantity
        fee = fill_fee(order.quantity, price, contract, fee_bps=self.fee_bps,
                       fee_per_fill=self.fee_per_fill)
        qty, avg, realized = apply_fill(position.quantity, position.avg_price, signed, price,
                                        contract)
        position.quantity, position.avg_price = qty, avg
        position.realized_pnl += realized - fee
        position.updated_at = ts
        account.cash -= signed * price * contract + fee
        account.updated_at = ts
        order.status = OrderStatus.filled.value
        order.filled_quantity = order.quantity
        order.avg_fill_price = price
        order.fee = fee
        order.filled_at = ts
        session.add_all([position, account, order, PaperFill(
            order_id=order.id, user_id=order.user_id, symbol=order.symbol, side=order.side,
            price=price, quantity=order.quantity, fee=fee, ts=ts,
        )])

    def _try_fill_open(self, order_id: int, at: datetime | None) -> OrderResult | None:
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.get(PaperOrder, order_id)
            if row is None or row.status != OrderStatus.open.value:
                return None
            instrument = self._market.instrument(row.symbol)
            quote = self._market.price(row.symbol, at)
            price = fill_price(row.side, row.order_type, row.limit_price, quote.price,
                               self.slippage_bps)
            if price is None:
                return None
            # Claim the order atomically: only one process moves it from open to filled.
            claimed = session.exec(
                update(PaperOrder)
                .where(col(PaperOrder.id) == order_id,
                       col(PaperOrder.status) == OrderStatus.open.value)
                .values(status=OrderStatus.filled.value)
            )
            if claimed.rowcount != 1:
                session.rollback()
                return None
            session.refresh(row)
            self._fill(session, row, price, quote.ts, instrument)
            session.commit()
            return _to_result(row)
