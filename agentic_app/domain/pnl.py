"""Profit and loss of a trading account, by the average-cost method (pure; no I/O).

Rules (the paper broker and the portfolio view both use these functions):

* A position is one signed quantity per symbol (short < 0) and an average entry price.
  A fill in the position's direction re-averages the entry price (weighted by quantity); a
  fill against it realises ``closed x (price - avg) x direction x contract_size`` on the
  closed part; a fill larger than the position flips it and the rest opens at the fill price.
* Fees are kept apart from the gross realized P&L: net realized = realized - fees.
* Cash = starting cash - sum(signed quantity x price x contract_size) - fees.
* Unrealized = quantity x (mark - avg) x contract_size; equity = cash + sum(quantity x mark x
  contract_size) = starting cash + net realized + unrealized.

Average cost (not FIFO) because the broker nets one position per symbol: a partial close
realises against the average entry, which is what the positions table stores.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

QTY_DECIMALS = 10
"""Quantities are rounded to this many decimals to keep float residue out."""


def clean(value: float) -> float:
    """``value`` rounded to QTY_DECIMALS, with -0.0 turned into 0.0."""
    return round(value, QTY_DECIMALS) + 0.0


def apply_fill(
    quantity: float, avg_price: float, signed_qty: float, price: float, contract_size: float = 1.0
) -> tuple[float, float, float]:
    """Net a fill of ``signed_qty`` (buy > 0) at ``price`` into a position.

    Returns ``(new_quantity, new_avg_price, realized_pnl)``; the average price is 0 when flat.
    """
    new_qty = clean(quantity + signed_qty)
    if quantity == 0 or (quantity > 0) == (signed_qty > 0):
        avg = (abs(quantity) * avg_price + abs(signed_qty) * price) / abs(new_qty)
        return new_qty, avg, 0.0
    closed = min(abs(quantity), abs(signed_qty))
    direction = 1.0 if quantity > 0 else -1.0
    realized = closed * (price - avg_price) * direction * contract_size
    if new_qty == 0:
        return 0.0, 0.0, realized
    if (new_qty > 0) == (quantity > 0):
        return new_qty, avg_price, realized
    return new_qty, price, realized


def fill_fee(quantity: float, price: float, contract_size: float = 1.0, *,
             fee_bps: float = 0.0, fee_per_fill: float = 0.0) -> float:
    """The fee of one fill: ``fee_bps`` of its notional plus a fixed ``fee_per_fill``."""
    return abs(quantity) * price * contract_size * fee_bps / 1e4 + fee_per_fill


@dataclass(frozen=True)
class Fill:
    """One fill: ``side`` buy/sell, ``quantity`` > 0, the fee paid, and the contract size."""

    symbol: str
    side: str
    quantity: float
    price: float
    fee: float = 0.0
    ts: datetime | None = None
    contract_size: float = 1.0

    @property
    def signed_quantity(self) -> float:
        """Quantity with the sign of the side (buy > 0)."""
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass
class PositionPnL:
    """One symbol's position and P&L; ``mark`` and ``unrealized`` once marked."""

    symbol: str
    quantity: float = 0.0
    avg_price: float = 0.0
    realized: float = 0.0
    fees: float = 0.0
    contract_size: float = 1.0
    mark: float | None = None

    @property
    def net_realized(self) -> float:
        """Realized P&L after fees."""
        return self.realized - self.fees

    @property
    def market_value(self) -> float:
        """Quantity x mark x contract size (0 when flat or not marked)."""
        return self.quantity * self.mark * self.contract_size if self.mark is not None else 0.0

    @property
    def unrealized(self) -> float:
        """Quantity x (mark - avg) x contract size (0 when flat or not marked)."""
        if self.mark is None or self.quantity == 0:
            return 0.0
        return self.quantity * (self.mark - self.avg_price) * self.contract_size

    def to_dict(self) -> dict:
        """JSON-friendly form with the derived figures."""
        return {"symbol": self.symbol, "quantity": self.quantity, "avg_price": self.avg_price,
                "realized_pnl": self.realized, "fees": self.fees,
                "net_realized_pnl": self.net_realized, "mark_price": self.mark,
                "market_value": self.market_value, "unrealized_pnl": self.unrealized,
                "contract_size": self.contract_size}


@dataclass
class Book:
    """An account replayed from its fills: cash and one :class:`PositionPnL` per symbol."""

    starting_cash: float
    cash: float = math.nan
    positions: dict[str, PositionPnL] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if math.isnan(self.cash):
            self.cash = self.starting_cash

    def apply(self, fill: Fill) -> None:
        """Book one fill: position, realized P&L, fees, cash."""
        pos = self.positions.setdefault(
            fill.symbol, PositionPnL(fill.symbol, contract_size=fill.contract_size))
        signed = fill.signed_quantity
        pos.quantity, pos.avg_price, realized = apply_fill(
            pos.quantity, pos.avg_price, signed, fill.price, fill.contract_size)
        pos.realized += realized
        pos.fees += fill.fee
        self.cash -= signed * fill.price * fill.contract_size + fill.fee

    def mark(self, marks: Mapping[str, float]) -> None:
        """Set each position's mark price (symbols missing from ``marks`` keep theirs)."""
        for symbol, pos in self.positions.items():
            if symbol in marks:
                pos.mark = marks[symbol]

    @property
    def realized(self) -> float:
        """Gross realized P&L of every symbol."""
        return sum(p.realized for p in self.positions.values())

    @property
    def fees(self) -> float:
        """Fees paid."""
        return sum(p.fees for p in self.positions.values())

    @property
    def unrealized(self) -> float:
        """Unrealized P&L of the open positions at their marks."""
        return sum(p.unrealized for p in self.positions.values())

    @property
    def equity(self) -> float:
        """Cash plus the open positions at their marks (unmarked positions at entry)."""
        value = 0.0
        for p in self.positions.values():
            price = p.mark if p.mark is not None else p.avg_price
            value += p.quantity * price * p.contract_size
        return self.cash + value

    def open_positions(self) -> list[PositionPnL]:
        """Non-flat positions, by symbol."""
        return [p for _, p in sorted(self.positions.items()) if p.quantity != 0]

    def summary(self) -> dict:
        """Cash, equity and the P&L figures (JSON-friendly)."""
        return {"starting_cash": self.starting_cash, "cash": self.cash, "equity": self.equity,
                "realized_pnl": self.realized, "fees": self.fees,
                "net_realized_pnl": self.realized - self.fees,
                "unrealized_pnl": self.unrealized,
                "total_pnl": self.equity - self.starting_cash}


def replay(starting_cash: float, fills: Iterable[Fill],
           marks: Mapping[str, float] | None = None) -> Book:
    """The account after ``fills`` (in time order), marked at ``marks`` when given."""
    book = Book(starting_cash)
    for fill in fills:
        book.apply(fill)
    if marks:
        book.mark(marks)
    return book


PriceSeries = Sequence[tuple[datetime, float]]
"""A symbol's prices over time, oldest first."""


def _price_at(series: PriceSeries, times: list[datetime], at: datetime) -> float | None:
    i = bisect.bisect_right(times, at)
    return series[i - 1][1] if i else None


def equity_curve(starting_cash: float, fills: Sequence[Fill], times: Sequence[datetime],
                 prices: Mapping[str, PriceSeries]) -> list[dict]:
    """Equity at each of ``times`` (ascending): the fills up to that time, each open position
    marked at its last price at or before it (else its last fill price).

    Returns ``[{"ts", "equity", "cash", "realized_pnl", "unrealized_pnl", "fees"}]``.
    """
    ordered = sorted(fills, key=lambda f: f.ts or datetime.min)
    index = {s: [t for t, _ in series] for s, series in prices.items()}
    book = Book(starting_cash)
    last_fill: dict[str, float] = {}
    points, k = [], 0
    for at in times:
        while k < len(ordered) and ordered[k].ts is not None and ordered[k].ts <= at:
            book.apply(ordered[k])
            last_fill[ordered[k].symbol] = ordered[k].price
            k += 1
        marks = {}
        for symbol in book.positions:
            series = prices.get(symbol)
            price = _price_at(series, index[symbol], at) if series else None
            marks[symbol] = price if price is not None else last_fill[symbol]
        book.mark(marks)
        points.append({"ts": at, "equity": book.equity, "cash": book.cash,
                       "realized_pnl": book.realized, "unrealized_pnl": book.unrealized,
                       "fees": book.fees})
    return points
