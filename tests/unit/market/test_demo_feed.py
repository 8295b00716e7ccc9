"""The local demo market: cycles that make the seed triggers fire, and the 60x demo clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import talib

from agentic_app.market.accelerated import ANCHOR, AcceleratedFeed
from agentic_app.market.aggregate import aggregate_arrays
from agentic_app.market.demo import CYCLES, DemoFeed
from agentic_app.market.simulated import SimulatedFeed

T = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def test_deterministic_and_other_symbols_unchanged():
    """Same inputs, same prices; symbols without a cycle equal the simulated feed."""
    a, b = DemoFeed(seed=42), DemoFeed(seed=42)
    assert a.price("EURUSD", T) == b.price("EURUSD", T)
    assert a.price("AAPL", T) == SimulatedFeed(seed=42).price("AAPL", T)


def test_eurusd_crosses_110_upwards_every_cycle():
    """Sampled each market minute for 3 cycles, EURUSD crosses above 1.10 at least 3 times."""
    feed = DemoFeed()
    period = int(CYCLES["EURUSD"].period_min)
    prices = np.array([feed.price("EURUSD", T + timedelta(minutes=m)).price
                       for m in range(3 * period)])
    above = prices > 1.10
    assert int(np.sum(~above[:-1] & above[1:])) >= 3
    assert 1.095 < prices.min() < 1.10 < prices.max() < 1.105


def test_btc_rsi_below_30_once_per_cycle():
    """Over four cycles, RSI(14) of BTCUSDT 1m bars enters the < 30 zone at least 3 times."""
    period = int(CYCLES["BTCUSDT"].period_min)
    bars = DemoFeed().bars("BTCUSDT", "1m", 4 * period + 50, T)
    rsi = talib.RSI(bars.close, 14)[50:]
    below = rsi < 30
    assert int(np.sum(~below[:-1] & below[1:])) >= 3


def test_long_bars_are_aggregates_of_minute_bars():
    """A 1h bar of a cycling symbol is the aggregate of its sixty 1m bars."""
    feed = DemoFeed()
    hour = feed.bars("EURUSD", "1h", 3, T)
    minutes = feed.bars("EURUSD", "1m", 180, T)
    agg = aggregate_arrays(minutes.ts, minutes.open, minutes.high, minutes.low, minutes.close,
                           minutes.volume, 3600)
    assert list(agg[0]) == list(hour.ts)
    np.testing.assert_allclose(agg[4], hour.close)
    np.testing.assert_allclose(agg[2], hour.high)


def test_accelerated_clock_maps_wall_to_market_time():
    """At 60x a wall second is a market minute; answers carry wall-clock timestamps."""
    inner = DemoFeed()
    fast = AcceleratedFeed(inner, 60)
    wall = ANCHOR + timedelta(hours=1)
    market = ANCHOR + timedelta(hours=60)
    quote = fast.price("EURUSD", wall)
    assert quote.price == inner.price("EURUSD", market).price and quote.ts == wall
    bars = fast.bars("BTCUSDT", "1m", 5, wall)
    assert list(np.diff(bars.ts)) == [1, 1, 1, 1]  # one market minute per wall second
    assert bars.ts[-1] < wall.timestamp() <= bars.ts[-1] + 2
