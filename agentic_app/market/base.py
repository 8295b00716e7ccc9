"""Market data vocabulary: instruments, quotes, bars, timeframes and the ``MarketData`` protocol.

Rules every feed follows:

* Times are aware UTC ``datetime``; a naive ``datetime`` passed in is taken as UTC.
* A bar is identified by its open time ``ts`` (epoch seconds, aligned to a multiple of the
  timeframe since the epoch, so 1d bars open at 00:00 UTC and 4h bars at 00, 04, 08 ... UTC).
  It covers ``[ts, ts + timeframe)`` and is *closed* once ``ts + timeframe <= now``.
* ``bars(symbol, timeframe, count, end)`` returns the last ``count`` closed bars whose close time
  is ``<= end`` (``end`` defaults to the feed's clock), oldest first. A feed with less history
  returns fewer bars; one with none raises ``MarketDataUnavailableError``.
* Symbols are matched case-insensitively and normalised to upper case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from agentic_app.domain.errors import InvalidInputError, UnknownSymbolError
from agentic_app.domain.indicators import TIMEFRAMES
from agentic_app.market.clock import from_epoch

INSTRUMENT_KINDS = ("fx", "metal", "crypto", "equity", "index", "synthetic")
"""Kinds of instrument a feed may report."""


def parse_timeframe(timeframe: str) -> int:
    """Return the length in seconds of ``timeframe`` (e.g. "1h"); InvalidInputError if unknown."""
    key = str(timeframe).strip().lower() if timeframe is not None else ""
    if key not in TIMEFRAMES:
        raise InvalidInputError(
            f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}",
            field="timeframe",
        )
    return TIMEFRAMES[key]


def normalize_symbol(symbol: str) -> str:
    """Upper-case, stripped form of ``symbol``; UnknownSymbolError for empty or non-string."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise UnknownSymbolError(f"invalid symbol {symbol!r}", field="symbol")
    return symbol.strip().upper()


def validate_count(count: int, *, maximum: int = 100_000) -> int:
    """Check a bar count is an int in [1, maximum]; InvalidInputError(field="count") if not."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer):
        raise InvalidInputError(f"count must be an integer, got {count!r}", field="count")
    if not 1 <= int(count) <= maximum:
        raise InvalidInputError(f"count must be between 1 and {maximum}", field="count")
    return int(count)


@dataclass(frozen=True)
class Instrument:
    """A tradable symbol and the facts sizing and simulation need about it.

    ``base_price`` is a typical price level (the simulated feed's centre), ``annual_vol`` the
    annualised volatility of log returns, ``price_range`` the (low, high) band the simulated
    feed keeps prices strictly inside (default: base price times exp(+-2 * annual_vol)).
    ``contract_size`` is units of the base asset per 1.0 lot; ``spread`` the typical ask - bid.
    """

    symbol: str
    kind: str
    base_price: float
    annual_vol: float
    decimals: int = 5
    lot_step: float = 0.01
    min_lot: float = 0.01
    contract_size: float = 1.0
    spread: float = 0.0
    price_range: tuple[float, float] | None = None

    def band(self) -> tuple[float, float]:
        """The (low, high) price band, explicit or derived from base price and volatility."""
        if self.price_range is not None:
            return self.price_range
        width = float(np.exp(2.0 * max(self.annual_vol, 0.01)))
        return (self.base_price / width, self.base_price * width)


@dataclass(frozen=True)
class Quote:
    """A price of ``symbol`` at ``ts`` (aware UTC); bid/ask when the feed knows them."""

    symbol: str
    price: float
    ts: datetime
    bid: float | None = None
    ask: float | None = None

    def to_dict(self) -> dict:
        """JSON-friendly form (ts as ISO-8601)."""
        return {
            "symbol": self.symbol,
            "price": self.price,
            "ts": self.ts.isoformat(),
            "bid": self.bid,
            "ask": self.ask,
        }


@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV bars of one symbol at one timeframe, oldest first, as float64/int64 numpy arrays.

    ``ts`` holds each bar's open time in epoch seconds; the bar closes at ``ts + seconds``.
    """

    symbol: str
    timeframe: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        """Number of bars."""
        return int(self.ts.shape[0])

    @property
    def seconds(self) -> int:
        """Length of one bar in seconds."""
        return TIMEFRAMES[self.timeframe]

    @property
    def last_close(self) -> float:
        """Close of the newest bar; IndexError when empty."""
        if len(self) == 0:
            raise IndexError("no bars")
        return float(self.close[-1])

    @property
    def end(self) -> datetime | None:
        """Close time of the newest bar, or None when empty."""
        if len(self) == 0:
            return None
        return from_epoch(int(self.ts[-1]) + self.seconds)

    def to_rows(self) -> list[dict]:
        """One dict per bar: ts (ISO-8601 open time), open, high, low, close, volume."""
        return [
            {
                "ts": from_epoch(int(t)).isoformat(),
                "open": float(o),
                "high": float(h),
                "low": float(lo),
                "close": float(c),
                "volume": float(v),
            }
            for t, o, h, lo, c, v in zip(
                self.ts, self.open, self.high, self.low, self.close, self.volume, strict=True
            )
        ]


@runtime_checkable
class MarketData(Protocol):
    """What every feed offers; see the module docstring for time and bar rules."""

    def symbols(self) -> list[str]:
        """Symbols this feed knows, sorted."""
        ...

    def instrument(self, symbol: str) -> Instrument:
        """Facts about ``symbol``; UnknownSymbolError(field="symbol") if unknown."""
        ...

    def price(self, symbol: str, at: datetime | None = None) -> Quote:
        """Price of ``symbol`` at ``at`` (default: the feed's clock)."""
        ...

    def prices(self, symbols: list[str], at: datetime | None = None) -> dict[str, Quote]:
        """Prices of several symbols at one time, keyed by normalised symbol."""
        ...

    def bars(
        self, symbol: str, timeframe: str, count: int, end: datetime | None = None
    ) -> Bars:
        """The last ``count`` closed bars whose close time is ``<= end``, oldest first."""
        ...
