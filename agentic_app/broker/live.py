"""The live broker: orders on a real exchange through ccxt, kept in step in ``live_orders``.

One :class:`LiveBroker` trades for one user with one credential. Placing an order:

1. the row is claimed first (``idempotency_key`` and the derived ``client_order_id`` are
   UNIQUE), so of two attempts with one key exactly one goes on;
2. an existing row is never sent again blindly: while it is ``new`` (outcome unknown) the
   exchange is asked for the client order id, and only an order the exchange does not know
   is sent (after the signed request's validity window has passed, so a request lost in
   flight can no longer land as well);
3. before the first send the safety ``guard`` runs (limits, kill switch); a refusal is kept
   as a ``rejected`` row with its reason and raised as LimitExceededError;
4. an exchange rejection (insufficient funds, bad quantity, bad key) is kept as ``rejected``
   with the exchange's message; a lost response or timeout is resolved by asking the exchange.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentic_app.broker.base import (
    AccountSnapshot,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
)
from agentic_app.broker.exchanges import client_order_id, spec_of
from agentic_app.broker.safety import is_halted
from agentic_app.db.broker_models import LiveOrder
from agentic_app.db.engine import Database
from agentic_app.db.models import utcnow
from agentic_app.domain.errors import (
    AgenticError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    RetryableError,
    ServiceUnavailableError,
    UnknownSymbolError,
)
from agentic_app.domain.live_trading import KILL_SWITCH

OPEN_STATUSES = (OrderStatus.open.value, OrderStatus.partially_filled.value)
"""Statuses of an order still working at the exchange."""
MAX_REASON = 500
"""Longest reason stored on a row."""
EXCHANGE_REASON = "exchange: "
"""Prefix of the reason of a row the exchange (not a limit) refused."""


class Guard(Protocol):
    """The safety check run before an order is first sent (see ``broker.safety``)."""

    def __call__(self, order: OrderRequest, notional: float,
                 equity: Callable[[], float]) -> None:
        """Return when the order may go; LimitExceededError naming the limit otherwise."""
        ...


class ExchangeUnavailableError(RetryableError):
    """The exchange did not answer; nothing is known to have been placed twice."""


def _status(order: dict[str, Any]) -> str:
    """Our status of a ccxt order."""
    status, filled = order.get("status"), float(order.get("filled") or 0)
    if status == "closed":
        return OrderStatus.filled.value
    if status == "canceled" or status == "expired":
        return OrderStatus.cancelled.value
    if status == "rejected":
        return OrderStatus.rejected.value
    return OrderStatus.partially_filled.value if filled > 0 else OrderStatus.open.value


def _fee(order: dict[str, Any]) -> float:
    fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
    return float(sum(float(f.get("cost") or 0) for f in fees if f))


def to_result(row: LiveOrder, duplicate: bool = False) -> OrderResult:
    """The broker-neutral view of a live order row."""
    return OrderResult(
        order_id=row.id or 0, idempotency_key=row.idempotency_key, user_id=row.user_id,
        symbol=row.symbol, side=row.side, order_type=row.order_type, quantity=row.quantity,
        limit_price=row.limit_price, status=row.status, filled_quantity=row.filled_quantity,
        avg_fill_price=row.avg_fill_price, fee=row.fee, created_at=row.created_at,
        filled_at=row.filled_at, execution_id=row.execution_id, node_id=row.node_id,
        duplicate=duplicate, reason=row.reason)


class LiveBroker:
    """A :class:`~agentic_app.broker.base.Broker` on a ccxt exchange client for one user.

    ``settle_seconds`` is how long after a send without answer the order counts as "may
    still land" (the exchange's receive window plus a second); ``clock`` returns aware UTC.
    """

    def __init__(self, db: Database, client: Any, *, exchange_id: str, user_id: int,
                 credential_id: int | None = None, sandbox: bool = True,
                 guard: Guard | None = None, settle_seconds: float | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec_of(exchange_id)
        self._engine = db.engine
        self.client = client
        self.user_id = user_id
        self.credential_id = credential_id
        self.sandbox = sandbox
        self._guard = guard
        self.settle_seconds = (self.spec.recv_window_ms / 1000 + 1.0
                               if settle_seconds is None else settle_seconds)
        self._clock = clock
        self._sleep = sleep
        self._by_id: dict[str, dict] | None = None

    # -- markets ----------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(...)``: a network failure becomes ExchangeUnavailableError, a
        refused key InvalidInputError(field="credential"), any other exchange error
        ServiceUnavailableError (OrderNotFound passes through: callers ask with it)."""
        import ccxt

        try:
            return getattr(self.client, method)(*args, **kwargs)
        except ccxt.NetworkError as exc:
            raise ExchangeUnavailableError(f"{self.spec.id} did not answer: {exc}") from exc
        except ccxt.OrderNotFound:
            raise
        except (ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
            raise InvalidInputError(f"{self.spec.id} refused the credential: {_message(exc)}",
                                    field="credential") from exc
        except ccxt.ExchangeError as exc:
            raise ServiceUnavailableError(f"{self.spec.id} refused: {_message(exc)}") from exc

    def market(self, symbol: str) -> dict:
        """The ccxt market of our symbol (``BTCUSDT``); UnknownSymbolError otherwise."""
        if self._by_id is None:
            markets = self._call("load_markets")
            self._by_id = {m["id"].upper(): m for m in markets.values()
                           if m.get("spot") and m.get("active", True) is not False}
        market = self._by_id.get(str(symbol).replace("/", "").upper())
        if market is None:
            raise UnknownSymbolError(f"{self.spec.id} has no spot market {symbol!r}",
                                     field="symbol")
        return market

    def _amount(self, market: dict, quantity: float) -> float:
        """``quantity`` when it fits the market's step and minimum; InvalidInputError else."""
        amount = float(self.client.amount_to_precision(market["symbol"], quantity))
        if abs(amount - quantity) > 1e-12 * max(1.0, quantity):
            raise InvalidInputError(f"quantity {quantity} is not a multiple of the lot step of "
                                    f"{market['id']}", field="quantity")
        minimum = ((market.get("limits") or {}).get("amount") or {}).get("min")
        if minimum and amount < float(minimum):
            raise InvalidInputError(f"quantity {quantity} is below the minimum {minimum} of "
                                    f"{market['id']}", field="quantity")
        return amount

    def last_price(self, market: dict) -> float:
        """The market's last traded price."""
        ticker = self._call("fetch_ticker", market["symbol"])
        price = ticker.get("last") or ticker.get("close")
        if not price:
            raise ExchangeUnavailableError(f"no price for {market['id']}")
        return float(price)

    # -- orders -----------------------------------------------------------------------------

    def place_order(self, order: OrderRequest) -> OrderResult:
        """Place ``order`` once per idempotency key (see the module docstring).

        InvalidInputError for a bad order (nothing written), LimitExceededError when the
        guard refuses (recorded), ExchangeUnavailableError when the exchange cannot be
        reached and the outcome stays unknown (retrying is safe)."""
        req = order.validated()
        if req.user_id != self.user_id:
            raise InvalidInputError("this broker trades for another user", field="user_id")
        market = self.market(req.symbol)
        amount = self._amount(market, req.quantity)
        row, fresh = self._claim(req, market)
        if not fresh:
            if row.user_id != req.user_id:
                raise InvalidInputError("idempotency_key is already used by another user",
                                        field="idempotency_key")
            if row.status != OrderStatus.new.value:
                if (row.status == OrderStatus.rejected.value and row.notional is None
                        and not (row.reason or "").startswith(EXCHANGE_REASON)):
                    raise LimitExceededError(row.reason or "refused", limit=_limit_of(row))
                return to_result(self._refresh(row), duplicate=True)
            if not self._take(row):
                raise ExchangeUnavailableError("this order is being sent by another attempt")
            found = self._lookup(row)
            if found is not None:
                return to_result(self._apply(row, found), duplicate=True)
        if row.notional is None:
            try:
                row = self._check(row, req, market, amount)
            except ExchangeUnavailableError:
                self._update(row, claimed_until=self._clock())
                raise
            except (InvalidInputError, ServiceUnavailableError) as exc:
                self._update(row, status=OrderStatus.rejected.value, claimed_until=None,
                             reason=f"{EXCHANGE_REASON}{exc.message}"[:MAX_REASON])
                raise
        return self._send(row, market, amount)

    def _claim(self, req: OrderRequest, market: dict) -> tuple[LiveOrder, bool]:
        existing = self._row(req.idempotency_key)
        if existing is not None:
            return existing, False
        now = self._clock()
        row = LiveOrder(
            user_id=req.user_id, credential_id=self.credential_id, exchange=self.spec.id,
            sandbox=self.sandbox, symbol=market["id"], side=str(req.side.value),  # type: ignore[union-attr]
            order_type=str(req.order_type.value),  # type: ignore[union-attr]
            quantity=req.quantity, limit_price=req.limit_price,
            status=OrderStatus.new.value, idempotency_key=req.idempotency_key,
            client_order_id=client_order_id(self.spec.id, req.idempotency_key),
            execution_id=req.execution_id, node_id=req.node_id,
            claimed_until=now + timedelta(seconds=self._lease()), created_at=now,
            updated_at=now)
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                session.add(row)
                session.commit()
                return row, True
        except IntegrityError:
            existing = self._row(req.idempotency_key)
            if existing is None:
                raise
            return existing, False

    def _lease(self) -> float:
        timeout = float(getattr(self.client, "timeout", 10_000) or 10_000) / 1000
        return 2 * (timeout + self.settle_seconds)

    def _take(self, row: LiveOrder) -> bool:
        """Claim a ``new`` row whose previous claim has lapsed; True when this call has it."""
        now = self._clock()
        with Session(self._engine) as session:
            done = session.exec(
                update(LiveOrder)
                .where(col(LiveOrder.id) == row.id, col(LiveOrder.status) == "new",
                       or_(col(LiveOrder.claimed_until).is_(None),
                           col(LiveOrder.claimed_until) < now))
                .values(claimed_until=now + timedelta(seconds=self._lease()))
            )
            session.commit()
            return done.rowcount == 1

    def _check(self, row: LiveOrder, req: OrderRequest, market: dict,
               amount: float) -> LiveOrder:
        """Run the guard once; a refusal is recorded (no notional) and raised.

        A buy limit is priced at its limit (it cannot pay more); a sell limit at the higher
        of its limit and the last price, as a sell limited far below the market fills at
        the market."""
        if req.order_type != OrderType.limit:
            price = self.last_price(market)
        elif str(getattr(req.side, "value", req.side)) == "sell":
            price = max(float(req.limit_price or 0), self.last_price(market))
        else:
            price = float(req.limit_price or 0)
        notional = amount * price
        if self._guard is not None:
            try:
                self._guard(req, notional, self.equity)
            except LimitExceededError as exc:
                self._update(row, status=OrderStatus.rejected.value, claimed_until=None,
                             reason=f"{exc.limit}: {exc.message}"[:MAX_REASON])
                raise
        return self._update(row, notional=notional)

    def _send(self, row: LiveOrder, market: dict, amount: float) -> OrderResult:
        import ccxt

        params = {"newClientOrderId": row.client_order_id}
        for _ in range(2):
            self._refuse_if_halted(row)
            sent = time.monotonic()
            try:
                answer = self.client.create_order(market["symbol"], row.order_type, row.side,
                                                  amount, row.limit_price, params)
                return to_result(self._apply(row, answer))
            except ccxt.NetworkError:
                found = self._settle(row, sent)
            except ccxt.ExchangeError as exc:
                if "duplicate order" not in str(exc).lower():
                    return to_result(self._update(
                        row, status=OrderStatus.rejected.value, claimed_until=None,
                        reason=f"exchange: {_message(exc)}"[:MAX_REASON]))
                found = self._lookup(row)
            if found is not None:
                return to_result(self._apply(row, found))
        self._update(row, claimed_until=self._clock())
        raise ExchangeUnavailableError(f"{self.spec.id} did not take the order; nothing was "
                                       "placed, a retry may send it again")

    def _refuse_if_halted(self, row: LiveOrder) -> None:
        """Before each send: an engaged kill switch records the row rejected and raises."""
        with Session(self._engine) as session:
            halted = is_halted(session, self.user_id)
        if halted:
            message = "the kill switch is engaged: re-arm it to trade"
            self._update(row, status=OrderStatus.rejected.value, claimed_until=None,
                         reason=f"{KILL_SWITCH}: {message}")
            raise LimitExceededError(message, limit=KILL_SWITCH)

    def _settle(self, row: LiveOrder, sent: float) -> dict | None:
        """After a send without answer: the order if the exchange has it, once any request
        still in flight can no longer be accepted; None when it certainly was not placed."""
        found = self._lookup(row)
        if found is None:
            self._sleep(max(0.0, self.settle_seconds - (time.monotonic() - sent)))
            found = self._lookup(row)
        return found

    def _lookup(self, row: LiveOrder) -> dict | None:
        """The exchange's order with the row's client order id, or None when unknown there."""
        import ccxt

        try:
            return self._call("fetch_order", None, self.market(row.symbol)["symbol"],
                              {"origClientOrderId": row.client_order_id})
        except ccxt.OrderNotFound:
            return None
        except ExchangeUnavailableError:
            self._update(row, claimed_until=self._clock()
                         + timedelta(seconds=self.settle_seconds))
            raise

    def _apply(self, row: LiveOrder, order: dict[str, Any]) -> LiveOrder:
        status = _status(order)
        filled = float(order.get("filled") or 0)
        return self._update(
            row, status=status, filled_quantity=filled, claimed_until=None,
            avg_fill_price=float(order["average"]) if order.get("average") else None,
            fee=_fee(order), exchange_order_id=str(order.get("id") or "") or None,
            filled_at=self._clock() if status == OrderStatus.filled.value else None)

    def _update(self, row: LiveOrder, **values: Any) -> LiveOrder:
        with Session(self._engine, expire_on_commit=False) as session:
            fresh = session.get(LiveOrder, row.id)
            assert fresh is not None
            for name, value in values.items():
                setattr(fresh, name, value)
            fresh.updated_at = self._clock()
            session.add(fresh)
            session.commit()
            return fresh

    def _row(self, idempotency_key: str) -> LiveOrder | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.exec(select(LiveOrder).where(
                LiveOrder.idempotency_key == idempotency_key)).first()

    def _refresh(self, row: LiveOrder) -> LiveOrder:
        """The row brought up to date from the exchange while it works (best effort)."""
        if row.status not in OPEN_STATUSES:
            return row
        try:
            found = self._lookup(row)
        except (ExchangeUnavailableError, ServiceUnavailableError):
            return row
        return self._apply(row, found) if found is not None else row

    def get_order(self, idempotency_key: str) -> OrderResult | None:
        """This user's order placed with ``idempotency_key`` (refreshed while open), or None."""
        row = self._row(idempotency_key)
        if row is None or row.user_id != self.user_id:
            return None
        return to_result(self._refresh(row))

    def orders(self, status: str | None = None, limit: int = 100) -> list[OrderResult]:
        """This user's live orders on this exchange, newest first (as stored)."""
        with Session(self._engine) as session:
            query = select(LiveOrder).where(LiveOrder.user_id == self.user_id,
                                            LiveOrder.exchange == self.spec.id)
            if status is not None:
                query = query.where(LiveOrder.status == status)
            rows = session.exec(query.order_by(col(LiveOrder.id).desc()).limit(limit)).all()
            return [to_result(r) for r in rows]

    def cancel_order(self, idempotency_key: str) -> OrderResult:
        """Cancel this user's working order; NotFoundError / InvalidInputError otherwise."""
        import ccxt

        row = self._row(idempotency_key)
        if row is None or row.user_id != self.user_id:
            raise NotFoundError(f"no order with key {idempotency_key!r}",
                                field="idempotency_key")
        row = self._refresh(row)
        if row.status not in OPEN_STATUSES:
            raise InvalidInputError(f"order {idempotency_key!r} is {row.status}, not open",
                                    field="idempotency_key")
        try:
            answer = self._call("cancel_order", row.exchange_order_id,
                                self.market(row.symbol)["symbol"])
        except ccxt.OrderNotFound:
            return to_result(self._refresh(row))
        return to_result(self._apply(row, {**answer, "status": "canceled"}))

    def cancel_all(self) -> dict[str, Any]:
        """Cancel every open order of the account (the kill switch): what was cancelled and
        what failed, each failure recorded, none stopping the others."""
        import ccxt

        report: dict[str, Any] = {"cancelled": [], "errors": []}
        try:
            working = self._call("fetch_open_orders")
        except (ccxt.BaseError, AgenticError) as exc:
            report["errors"].append(f"listing open orders: {_message(exc)}")
            return report
        for order in working:
            try:
                answer = self._call("cancel_order", order["id"], order["symbol"])
            except (ccxt.BaseError, AgenticError) as exc:
                report["errors"].append(f"{order.get('clientOrderId')}: {_message(exc)}")
                continue
            report["cancelled"].append(order.get("clientOrderId") or order["id"])
            with Session(self._engine, expire_on_commit=False) as session:
                row = session.exec(select(LiveOrder).where(
                    LiveOrder.client_order_id == order.get("clientOrderId"))).first()
            if row is not None:
                self._apply(row, {**answer, "status": "canceled"})
        return report

    # -- account ----------------------------------------------------------------------------

    def balances(self) -> dict[str, dict[str, float]]:
        """Non-zero balances per asset: free, used (in open orders) and total."""
        raw = self._call("fetch_balance")
        out = {}
        for asset, total in (raw.get("total") or {}).items():
            if total:
                out[asset] = {"free": float(raw["free"].get(asset) or 0),
                              "used": float(raw["used"].get(asset) or 0),
                              "total": float(total)}
        return out

    def positions(self, user_id: int | None = None) -> list[Position]:
        """Holdings other than the quote currency, marked at the last price."""
        out = []
        for asset, amounts in sorted(self.balances().items()):
            if asset == self.spec.quote:
                continue
            try:
                mark = self.last_price(self.market(asset + self.spec.quote))
            except UnknownSymbolError:
                mark = 0.0
            out.append(Position(symbol=asset + self.spec.quote, quantity=amounts["total"],
                                avg_price=0.0, realized_pnl=0.0, mark_price=mark,
                                market_value=amounts["total"] * mark))
        return out

    def equity(self) -> float:
        """Quote-currency cash plus every holding at its last price."""
        cash = self.balances().get(self.spec.quote, {}).get("total", 0.0)
        return cash + sum(p.market_value for p in self.positions())

    def account(self, user_id: int | None = None) -> AccountSnapshot:
        """Cash (quote currency), equity and holdings of the exchange account."""
        positions = self.positions()
        cash = self.balances().get(self.spec.quote, {}).get("total", 0.0)
        equity = cash + sum(p.market_value for p in positions)
        return AccountSnapshot(user_id=self.user_id, equity=equity, cash=cash,
                               unrealized_pnl=0.0, realized_pnl=0.0, starting_cash=0.0,
                               currency=self.spec.quote, at=self._clock(), positions=positions)


def _message(exc: BaseException) -> str:
    """An exchange error without ccxt's exchange-name prefix."""
    text = str(exc)
    return text.split(" ", 1)[1] if text.startswith(("binance ",)) else text


def _limit_of(row: LiveOrder) -> str:
    return (row.reason or "limit").split(":", 1)[0]

