"""The local demo market: the simulated feed plus two symbols with built-in cycles.

So the plan's use cases are visible within a minute of ``reflex run``, EURUSD swings around
1.10 and BTCUSDT swings around 60,000 in regular cycles (periods in market minutes, plus
the simulated feed's own noise), so ``price > 1.10`` becomes true and ``RSI(14) < 30`` is
reached once per cycle. Combined with the demo clock (``AcceleratedFeed``, 60x) a 30-minute
cycle takes 30 seconds. Other symbols are the simulated feed unchanged. Deterministic: a
pure function of (symbol, time, seed) like the simulated feed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from agentic_app.market.aggregate import aggregate_arrays
from agentic_app.market.base import Bars, Instrument, Quote, parse_timeframe, validate_count
from agentic_app.market.clock import Clock, system_clock, to_epoch, to_utc
from agentic_app.market.simulated import SimulatedFeed


@dataclass(frozen=True)
class Cycle:
    """A symbol's demo cycle: centre price, relative amplitude, period in market minutes."""

    center: float
    amplitude: float
    period_min: float
    noise: float = 0.15
    """Share of the simulated feed's own deviation from its base price that is kept."""


CYCLES = {
    "EURUSD": Cycle(center=1.10, amplitude=0.0014, period_min=30),
    "BTCUSDT": Cycle(center=60_000.0, amplitude=0.015, period_min=48),
}
"""Symbols that cycle in the demo market."""
MAX_MINUTE_BARS = 50_000
"""Longer requests of a cycling symbol are built from the simulated feed's own long bars."""


class DemoFeed:
    """MarketData of the local demo: cycles on EURUSD and BTCUSDT, the rest simulated."""

    def __init__(self, seed: int = 42, clock: Clock | None = None):
        self.clock: Clock = clock or system_clock
        self.inner = SimulatedFeed(seed=seed, clock=self.clock)

    def symbols(self) -> list[str]:
        """Same symbols as the simulated feed."""
        return self.inner.symbols()

    def instrument(self, symbol: str) -> Instrument:
        """Instrument of the simulated feed."""
        return self.inner.instrument(symbol)

    def _shape(self, symbol: str, minutes: np.ndarray, inner: np.ndarray) -> np.ndarray:
        cycle = CYCLES[symbol]
        base = self.inner.instrument(symbol).base_price
        wave = np.sin(2.0 * np.pi * minutes / cycle.period_min)
        values = cycle.center * (1.0 + cycle.amplitude * wave
                                 + cycle.noise * (inner / base - 1.0) * 0.1)
        return np.round(values, self.inner.instrument(symbol).decimals)

    def price(self, symbol: str, at: datetime | None = None) -> Quote:
        """Price at ``at``: the cycle at that instant (continuous within a minute)."""
        quote = self.inner.price(symbol, at)
        sym = quote.symbol
        if sym not in CYCLES:
            return quote
        minutes = np.array([to_epoch(quote.ts) / 60.0])
        value = float(self._shape(sym, minutes, np.array([quote.price]))[0])
        return Quote(sym, value, quote.ts)

    def prices(self, symbols: Iterable[str], at: datetime | None = None) -> dict[str, Quote]:
        """Prices of several symbols at one instant."""
        when = to_utc(at) if at is not None else to_utc(self.clock())
        return {q.symbol: q for q in (self.price(s, when) for s in symbols)}

    def bars(self, symbol: str, timeframe: str, count: int,
             end: datetime | None = None) -> Bars:
        """Bars with the cycle applied; built from 1m bars (exact aggregation) when short."""
        inst = self.inner.instrument(symbol)
        if inst.symbol not in CYCLES:
            return self.inner.bars(symbol, timeframe, count, end)
        seconds = parse_timeframe(timeframe)
        count = validate_count(count)
        minutes = count * seconds // 60
        if minutes > MAX_MINUTE_BARS:
            return self._long_bars(inst.symbol, timeframe, count, end)
        one = self.inner.bars(inst.symbol, "1m", minutes, end)
        closes = self._shape(inst.symbol, (one.ts + 60) / 60.0, one.close)
        opens = np.r_[self._shape(inst.symbol, one.ts[:1] / 60.0, one.open[:1]), closes[:-1]]
        wick = (one.high - one.low) / np.maximum(one.close, 1e-12) * 0.1 * closes
        high = np.maximum(opens, closes) + wick / 2
        low = np.minimum(opens, closes) - wick / 2
        arrays = (one.ts, opens, high, low, closes, one.volume)
        if seconds != 60:
            arrays = aggregate_arrays(*arrays, seconds)
        return Bars(inst.symbol, timeframe.strip().lower(), *arrays)

    def _long_bars(self, symbol: str, timeframe: str, count: int,
                   end: datetime | None) -> Bars:
        """Long spans: each bar holds whole cycles, so its range is the cycle's envelope."""
        bars = self.inner.bars(symbol, timeframe, count, end)
        cycle = CYCLES[symbol]
        closes = self._shape(symbol, (bars.ts + bars.seconds) / 60.0, bars.close)
        opens = np.r_[closes[:1], closes[:-1]]
        swing = cycle.center * cycle.amplitude
        high = np.maximum(np.maximum(opens, closes), cycle.center + swing)
        low = np.minimum(np.minimum(opens, closes), cycle.center - swing)
        return Bars(symbol, bars.timeframe, bars.ts, opens, high, low, closes, bars.volume)


def cycle_period_seconds(symbol: str, speed: float) -> float:
    """Wall-clock seconds of one demo cycle of ``symbol`` at market speed ``speed``."""
    return CYCLES[symbol].period_min * 60.0 / speed if symbol in CYCLES else math.inf
