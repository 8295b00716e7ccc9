"""Tests for the CSV replay feed, using the shipped sample and small generated files."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from agentic_app.domain.errors import (
    InvalidInputError,
    MarketDataUnavailableError,
    UnknownSymbolError,
)
from agentic_app.market.aggregate import aggregate_arrays
from agentic_app.market.base import MarketData
from agentic_app.market.replay import SAMPLE_CSV, ReplayFeed
from agentic_app.market.simulated import SimulatedFeed

DATA_END = datetime(2025, 1, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def feed():
    """The replay feed over the shipped sample."""
    return ReplayFeed.from_csv(SAMPLE_CSV)


def test_sample_is_small_and_loads(feed):
    """The shipped sample is under 400 KB and holds two symbols of 1m bars."""
    assert SAMPLE_CSV.stat().st_size < 400_000
    assert isinstance(feed, MarketData)
    assert feed.symbols() == ["BTCUSDT", "EURUSD"]
    assert feed.instrument("eurusd").kind == "fx"


def test_sample_matches_the_simulated_feed(feed):
    """The sample's 1m bars are the simulated feed's (seed 42), as the script promises."""
    sim = SimulatedFeed(seed=42).bars("EURUSD", "1m", 2880, DATA_END)
    replay = feed.bars("EURUSD", "1m", 2880, DATA_END)
    assert np.array_equal(sim.ts, replay.ts)
    assert np.allclose(sim.close, replay.close) and np.allclose(sim.high, replay.high)


def test_default_clock_is_the_data_end(feed):
    """Without at/end the feed answers as of the last bar close."""
    assert feed.price("BTCUSDT").ts == DATA_END
    assert feed.bars("BTCUSDT", "1h", 3).end == DATA_END


def test_higher_timeframes_aggregate_the_1m_bars(feed):
    """1h and 1d replay bars equal the shared aggregation of the 1m bars."""
    minutes = feed.bars("EURUSD", "1m", 2880, DATA_END)
    for timeframe, seconds in (("1h", 3600), ("1d", 86400), ("15m", 900)):
        bars = feed.bars("EURUSD", timeframe, 2880 * 60 // seconds, DATA_END)
        expected = aggregate_arrays(minutes.ts, minutes.open, minutes.high, minutes.low,
                                    minutes.close, minutes.volume, seconds)
        assert bars.ts.tolist() == expected[0].tolist()
        assert np.array_equal(bars.close, expected[4]) and np.array_equal(bars.high, expected[2])
    assert len(feed.bars("EURUSD", "1d", 10, DATA_END)) == 2  # less history -> fewer bars


def test_price_is_close_of_last_bar_ending_before(feed):
    """price(at) is the close of the last bar whose close time is <= at."""
    minutes = feed.bars("BTCUSDT", "1m", 3, DATA_END - timedelta(hours=5))
    boundary = minutes.end
    assert feed.price("BTCUSDT", boundary).price == minutes.close[-1]
    assert feed.price("BTCUSDT", boundary + timedelta(seconds=59)).price == minutes.close[-1]
    assert feed.price("BTCUSDT", boundary - timedelta(seconds=1)).price == minutes.close[-2]


def test_stale_and_before_start_raise_unavailable(feed):
    """Times past the data end by more than the stale window, or before it, are unavailable."""
    assert feed.price("EURUSD", DATA_END + timedelta(minutes=4)).price > 0
    with pytest.raises(MarketDataUnavailableError) as info:
        feed.price("EURUSD", DATA_END + timedelta(minutes=6))
    assert info.value.retryable
    with pytest.raises(MarketDataUnavailableError):
        feed.bars("EURUSD", "1h", 5, DATA_END + timedelta(days=1))
    with pytest.raises(MarketDataUnavailableError):
        feed.price("EURUSD", datetime(2024, 1, 1, tzinfo=UTC))


def test_unknown_symbol_and_bad_timeframe(feed):
    """Unknown symbols and bad timeframes raise errors naming their field."""
    with pytest.raises(UnknownSymbolError):
        feed.price("AAPL")
    with pytest.raises(InvalidInputError) as info:
        feed.bars("EURUSD", "2h", 3)
    assert info.value.field == "timeframe"


def test_directory_iso_timestamps_and_native_timeframe(tmp_path):
    """A directory of CSVs loads; ISO times parse; bars finer than the data are refused."""
    (tmp_path / "a.csv").write_text(
        "ts,symbol,open,high,low,close,volume\n"
        "2025-01-01T00:00:00Z,abc,10,11,9,10.5,1\n"
        "2025-01-01T00:05:00+00:00,ABC,10.5,12,10,11,2\n"
    )
    (tmp_path / "b.csv").write_text(
        "symbol,ts,open,high,low,close,volume\nABC,1735690200,11,11.5,10.8,11.2,3\n"
    )
    feed = ReplayFeed.from_csv(tmp_path)
    bars = feed.bars("ABC", "15m", 1)
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0], bars.volume[0]) == (
        10.0, 12.0, 9.0, 11.2, 6.0)
    with pytest.raises(InvalidInputError) as info:
        feed.bars("ABC", "1m", 1)
    assert info.value.field == "timeframe"


@pytest.mark.parametrize("body", [
    "ts,symbol,open,high,low,close\n0,X,1,1,1,1\n",
    "ts,symbol,open,high,low,close,volume\n0,X,1,0.5,1,1,1\n",
    "ts,symbol,open,high,low,close,volume\nyesterday,X,1,1,1,1,1\n",
    "ts,symbol,open,high,low,close,volume\n0,X,one,1,1,1,1\n",
])
def test_bad_csv_rejected(tmp_path, body):
    """Missing columns, inconsistent OHLC, bad times or numbers raise InvalidInputError."""
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(InvalidInputError):
        ReplayFeed.from_csv(path)


def test_missing_path_rejected(tmp_path):
    """A path with no CSV raises InvalidInputError naming replay_csv."""
    with pytest.raises(InvalidInputError) as info:
        ReplayFeed.from_csv(tmp_path / "nope.csv")
    assert info.value.field == "replay_csv"
