"""A demo clock for any feed: market time runs ``speed`` times faster than wall time.

``AcceleratedFeed(inner, speed=60)`` maps a wall-clock instant ``t`` to the market instant
``anchor + (t - anchor) * speed`` and asks the inner feed there; timestamps in the answers
are mapped back to wall time. At 60x a 1-minute bar closes every second and an hour of
market passes each minute, so price and indicator triggers fire within a minute in a local
demo. Everything stays consistent: triggers, nodes and charts see the same market.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np

from agentic_app.market.base import Bars, Instrument, Quote
from agentic_app.market.clock import Clock, from_epoch, system_clock, to_epoch, to_utc

ANCHOR = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""Wall time at which market time and wall time coincide."""


class AcceleratedFeed:
    """MarketData whose market time runs ``speed`` x faster than wall time."""

    def __init__(self, inner, speed: float, *, anchor: datetime = ANCHOR,
                 clock: Clock | None = None):
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError("speed must be a positive number")
        self.inner = inner
        self.speed = float(speed)
        self.anchor_s = to_epoch(anchor)
        self.clock: Clock = clock or system_clock

    def _wall(self, at: datetime | None) -> datetime:
        return to_utc(at) if at is not None else to_utc(self.clock())

    def to_market(self, at: datetime) -> datetime:
        """The market instant shown at wall time ``at``."""
        return from_epoch(self.anchor_s + (to_epoch(at) - self.anchor_s) * self.speed)

    def to_wall_epoch(self, market_epoch: np.ndarray | float) -> np.ndarray | float:
        """Wall-clock epoch seconds of market epoch seconds."""
        return self.anchor_s + (market_epoch - self.anchor_s) / self.speed

    def symbols(self) -> list[str]:
        """Symbols of the inner feed."""
        return self.inner.symbols()

    def instrument(self, symbol: str) -> Instrument:
        """Instrument of the inner feed."""
        return self.inner.instrument(symbol)

    def price(self, symbol: str, at: datetime | None = None) -> Quote:
        """The market price shown at wall time ``at`` (timestamped ``at``)."""
        wall = self._wall(at)
        return replace(self.inner.price(symbol, self.to_market(wall)), ts=wall)

    def prices(self, symbols: Iterable[str], at: datetime | None = None) -> dict[str, Quote]:
        """Prices of several symbols at one wall instant."""
        wall = self._wall(at)
        quotes = self.inner.prices(list(symbols), self.to_market(wall))
        return {sym: replace(q, ts=wall) for sym, q in quotes.items()}

    def bars(self, symbol: str, timeframe: str, count: int,
             end: datetime | None = None) -> Bars:
        """Bars up to the market instant of wall time ``end``; ``ts`` mapped to wall time."""
        bars = self.inner.bars(symbol, timeframe, count, self.to_market(self._wall(end)))
        wall_ts = np.floor(self.to_wall_epoch(bars.ts.astype(np.float64))).astype(np.int64)
        return replace(bars, ts=wall_ts)
