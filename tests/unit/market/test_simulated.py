"""Tests for the deterministic simulated feed."""

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import talib

from agentic_app.domain.errors import InvalidInputError, UnknownSymbolError
from agentic_app.market.aggregate import aggregate_arrays
from agentic_app.market.base import MarketData
from agentic_app.market.clock import FixedClock
from agentic_app.market.instruments import DEFAULT_INSTRUMENTS, synthetic_instruments
from agentic_app.market.simulated import SimulatedFeed

T0 = datetime(2025, 3, 14, 15, 27, tzinfo=UTC)
MIDNIGHT = datetime(2025, 3, 14, tzinfo=UTC)
PLAUSIBLE = {
    "EURUSD": (1.0, 1.2), "GBPUSD": (1.2, 1.35), "USDJPY": (140, 160), "XAUUSD": (2000, 2600),
    "BTCUSDT": (30_000, 120_000), "ETHUSDT": (1500, 5000), "AAPL": (150, 250),
}


@pytest.fixture(scope="module")
def feed():
    """The default feed, seed 42."""
    return SimulatedFeed(seed=42)


def test_is_market_data_with_required_symbols(feed):
    """The feed satisfies the protocol and offers the issue's seven symbols."""
    assert isinstance(feed, MarketData)
    assert set(PLAUSIBLE) <= set(feed.symbols())


def test_same_inputs_same_outputs_and_seed_matters(feed):
    """Two feeds with the same seed agree exactly; another seed gives other prices."""
    other = SimulatedFeed(seed=42)
    a, b = feed.bars("EURUSD", "5m", 50, T0), other.bars("EURUSD", "5m", 50, T0)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert feed.price("BTCUSDT", T0) == other.price("BTCUSDT", T0)
    c = SimulatedFeed(seed=7).bars("EURUSD", "5m", 50, T0)
    assert not np.array_equal(a.close, c.close)


def test_price_does_not_depend_on_call_order():
    """Prices are pure: asking in another order, or after other calls, changes nothing."""
    times = [T0 + timedelta(seconds=s) for s in (0, 17.5, 3600, -86400, 59.999)]
    first = SimulatedFeed()
    forward = [first.price("XAUUSD", t).price for t in times]
    second = SimulatedFeed()
    second.bars("XAUUSD", "1d", 30, T0)
    second.price("AAPL", T0)
    backward = [second.price("xauusd", t).price for t in reversed(times)]
    assert forward == list(reversed(backward))


@pytest.mark.parametrize("timeframe,seconds", [("5m", 300), ("1h", 3600), ("1d", 86400)])
def test_longer_bars_are_aggregates_of_1m_bars(feed, timeframe, seconds):
    """Each longer bar equals the aggregate of the 1m bars it covers."""
    big = feed.bars("ETHUSDT", timeframe, 3, MIDNIGHT)
    minutes = feed.bars("ETHUSDT", "1m", 3 * seconds // 60, MIDNIGHT)
    expected = aggregate_arrays(minutes.ts, minutes.open, minutes.high, minutes.low,
                                minutes.close, minutes.volume, seconds)
    assert big.ts.tolist() == expected[0].tolist()
    for got, want in zip((big.open, big.high, big.low, big.close, big.volume), expected[1:],
                         strict=True):
        assert np.array_equal(got, want)
    hour = feed.bars("ETHUSDT", "1h", 1, T0)
    sixty = feed.bars("ETHUSDT", "1m", 60, hour.end)
    assert hour.open[0] == sixty.open[0] and hour.close[0] == sixty.close[-1]
    assert hour.high[0] == sixty.high.max() and hour.low[0] == sixty.low.min()


def test_1m_bars_are_consistent(feed):
    """1m open is the previous close, and low <= open, close <= high, volume > 0."""
    bars = feed.bars("USDJPY", "1m", 500, T0)
    assert np.array_equal(bars.open[1:], bars.close[:-1])
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.volume > 0)


def test_price_at_boundary_is_close_and_inside_minute_within_range(feed):
    """At a minute boundary the price is the 1m close; inside it stays within low..high."""
    for sym in ("EURUSD", "BTCUSDT", "AAPL"):
        bars = feed.bars(sym, "1m", 20, T0)
        for i in range(len(bars)):
            close_time = bars.end - timedelta(minutes=len(bars) - 1 - i)
            assert feed.price(sym, close_time).price == bars.close[i]
            for sec in (0.5, 13, 30, 42.25, 59.9):
                p = feed.price(sym, close_time - timedelta(seconds=60 - sec)).price
                assert bars.low[i] <= p <= bars.high[i]


def test_prices_are_plausible_over_two_years(feed):
    """Every minute of two years (via 1d highs and lows) stays in a realistic band."""
    end = datetime(2026, 1, 1, tzinfo=UTC)
    for sym, (low, high) in PLAUSIBLE.items():
        days = feed.bars(sym, "1d", 730, end)
        assert low <= days.low.min() and days.high.max() <= high, sym
        assert days.close.max() / days.close.min() > 1.03, sym


def test_volatility_is_close_to_the_instrument(feed):
    """Realised 1m and 1d volatility is within a factor of 2 of the instrument's annual vol."""
    for inst in DEFAULT_INSTRUMENTS:
        minute = np.diff(np.log(feed.bars(inst.symbol, "1m", 2000, T0).close))
        daily = np.diff(np.log(feed.bars(inst.symbol, "1d", 365, T0).close))
        for realised in (minute.std() * np.sqrt(525_600), daily.std() * np.sqrt(365)):
            assert 0.5 < realised / inst.annual_vol < 2.0, inst.symbol


@pytest.mark.parametrize("timeframe,count", [("1m", 1000), ("5m", 1000), ("15m", 1000),
                                             ("1h", 1000), ("4h", 1000), ("1d", 730)])
def test_rsi_visits_both_extremes(feed, timeframe, count):
    """RSI(14) goes below 30 and above 70 on every symbol over a fixed window."""
    end = datetime(2025, 1, 1, tzinfo=UTC)
    for sym in PLAUSIBLE:
        rsi = talib.RSI(feed.bars(sym, timeframe, count, end).close, timeperiod=14)
        assert np.nanmin(rsi) < 30 and np.nanmax(rsi) > 70, sym


def test_bars_count_and_end_semantics(feed):
    """bars returns exactly count closed bars, aligned, the last closing at or before end."""
    end = datetime(2025, 3, 14, 15, 27, 30, tzinfo=UTC)
    hours = feed.bars("EURUSD", "1h", 5, end)
    assert len(hours) == 5
    assert hours.end == datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
    assert np.all(np.diff(hours.ts) == 3600) and np.all(hours.ts % 3600 == 0)
    exact = feed.bars("EURUSD", "1h", 5, datetime(2025, 3, 14, 16, 0, tzinfo=UTC))
    assert exact.end == datetime(2025, 3, 14, 16, 0, tzinfo=UTC)
    assert exact.ts[-2] == hours.ts[-1]
    days = feed.bars("EURUSD", "1d", 2, end)
    assert days.end == datetime(2025, 3, 14, tzinfo=UTC) and days.timeframe == "1d"


def test_clock_is_the_default_time_and_naive_is_utc():
    """Without at/end the injected clock is used; naive datetimes equal UTC ones."""
    clock = FixedClock(T0)
    feed = SimulatedFeed(clock=clock)
    assert feed.price("EURUSD") == feed.price("EURUSD", T0)
    assert feed.price("EURUSD").ts == T0
    assert feed.price("EURUSD", T0.replace(tzinfo=None)).price == feed.price("EURUSD").price
    implicit, explicit = feed.bars("AAPL", "15m", 10), feed.bars("AAPL", "15m", 10, T0)
    assert np.array_equal(implicit.close, explicit.close)
    clock.advance(3600)
    assert feed.bars("AAPL", "1h", 1).end == datetime(2025, 3, 14, 16, 0, tzinfo=UTC)


def test_prices_batch_and_quotes(feed):
    """prices returns one quote per symbol at one time, normalised keys, bid < price < ask."""
    quotes = feed.prices(["eurusd", "BTCUSDT"], T0)
    assert set(quotes) == {"EURUSD", "BTCUSDT"}
    assert quotes["EURUSD"] == feed.price("EURUSD", T0)
    for q in quotes.values():
        assert q.bid < q.price < q.ask and q.ts == T0


def test_unknown_symbol_and_bad_arguments(feed):
    """Unknown symbols, timeframes and counts raise errors naming the field."""
    with pytest.raises(UnknownSymbolError) as info:
        feed.price("NOPE", T0)
    assert info.value.field == "symbol"
    with pytest.raises(UnknownSymbolError):
        feed.bars("NOPE", "1h", 5, T0)
    with pytest.raises(InvalidInputError) as info:
        feed.bars("EURUSD", "3h", 5, T0)
    assert info.value.field == "timeframe"
    with pytest.raises(InvalidInputError) as info:
        feed.bars("EURUSD", "1h", 0, T0)
    assert info.value.field == "count"
    assert feed.instrument(" aapl ").symbol == "AAPL"


def test_custom_instruments_for_benchmarks():
    """A feed built from synthetic instruments serves exactly those, at distinct prices."""
    feed = SimulatedFeed(instruments=synthetic_instruments(100))
    assert len(feed.symbols()) == 100
    prices = {q.price for q in feed.prices(feed.symbols(), T0).values()}
    assert len(prices) > 90
    with pytest.raises(UnknownSymbolError):
        feed.price("EURUSD", T0)


def test_cached_day_blocks_equal_fresh_computation():
    """1h/4h/1d bars served from the day cache equal those of a fresh feed and the 1m data."""
    warm = SimulatedFeed()
    for days_back in (5, 1, 0):
        warm.bars("GBPUSD", "4h", 40, T0 - timedelta(days=days_back))
        warm.bars("GBPUSD", "1h", 100, T0 - timedelta(days=days_back, minutes=7))
    for timeframe, count in (("4h", 40), ("1h", 100), ("1d", 12)):
        cached = warm.bars("GBPUSD", timeframe, count, T0)
        fresh = SimulatedFeed().bars("GBPUSD", timeframe, count, T0)
        assert np.array_equal(cached.ts, fresh.ts) and np.array_equal(cached.close, fresh.close)
        assert np.array_equal(cached.high, fresh.high) and np.array_equal(cached.low, fresh.low)
    hours = warm.bars("GBPUSD", "1h", 100, T0)
    minutes = warm.bars("GBPUSD", "1m", 6000, hours.end)
    assert np.array_equal(hours.close, minutes.close[59::60])
    assert np.array_equal(hours.high, minutes.high.reshape(100, 60).max(axis=1))


def test_bars_are_fast():
    """200 daily bars (about 288k minutes) come back quickly, and much faster once cached."""
    feed = SimulatedFeed()
    start = time.perf_counter()
    feed.bars("BTCUSDT", "1d", 200, T0)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    feed.bars("BTCUSDT", "1d", 200, T0 + timedelta(minutes=1))
    warm = time.perf_counter() - start
    start = time.perf_counter()
    feed.bars("BTCUSDT", "1m", 500, T0)
    minute = time.perf_counter() - start
    # typical on an idle core: ~50 ms cold, ~2 ms warm, ~1 ms; loose bounds for a shared CI box
    assert cold < 1.5 and warm < 0.1 and minute < 0.1
