"""Tests for market vocabulary: timeframes, symbols, bars, quotes and clocks."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from agentic_app.domain.errors import InvalidInputError, UnknownSymbolError
from agentic_app.market.base import (
    TIMEFRAMES,
    Bars,
    Instrument,
    Quote,
    normalize_symbol,
    parse_timeframe,
    validate_count,
)
from agentic_app.market.clock import FixedClock, from_epoch, to_epoch, to_utc


def test_parse_timeframe_known_values():
    """Every supported timeframe parses to its length in seconds, case-insensitively."""
    assert [parse_timeframe(k) for k in TIMEFRAMES] == [60, 300, 900, 3600, 14400, 86400]
    assert parse_timeframe(" 1H ") == 3600


@pytest.mark.parametrize("bad", ["2m", "", "1w", None, "60"])
def test_parse_timeframe_rejects_unknown(bad):
    """An unknown timeframe raises InvalidInputError naming the timeframe field."""
    with pytest.raises(InvalidInputError) as info:
        parse_timeframe(bad)
    assert info.value.field == "timeframe"


def test_normalize_symbol_and_rejects_empty():
    """Symbols are stripped and upper-cased; empty or non-string ones are unknown symbols."""
    assert normalize_symbol(" eurusd ") == "EURUSD"
    for bad in ("", "   ", None, 3):
        with pytest.raises(UnknownSymbolError) as info:
            normalize_symbol(bad)
        assert info.value.field == "symbol"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10", 100_001])
def test_validate_count_rejects(bad):
    """Counts must be integers in range; others raise InvalidInputError(field='count')."""
    with pytest.raises(InvalidInputError) as info:
        validate_count(bad)
    assert info.value.field == "count"


def test_bars_helpers():
    """Bars report length, last close, end time and row dicts from their arrays."""
    ts = np.array([0, 60], dtype=np.int64)
    bars = Bars("X", "1m", ts, np.array([1.0, 2.0]), np.array([2.0, 3.0]),
                np.array([0.5, 1.5]), np.array([2.0, 2.5]), np.array([10.0, 20.0]))
    assert len(bars) == 2
    assert bars.last_close == 2.5
    assert bars.end == datetime(1970, 1, 1, 0, 2, tzinfo=UTC)
    rows = bars.to_rows()
    assert rows[1] == {"ts": "1970-01-01T00:01:00+00:00", "open": 2.0, "high": 3.0,
                       "low": 1.5, "close": 2.5, "volume": 20.0}
    empty = Bars("X", "1m", *(np.empty(0) for _ in range(6)))
    assert empty.end is None
    with pytest.raises(IndexError):
        _ = empty.last_close


def test_instrument_band_default_and_explicit():
    """An instrument's band is its explicit price_range or base * exp(+-2 vol)."""
    explicit = Instrument("A", "fx", 1.1, 0.07, price_range=(1.0, 1.2))
    assert explicit.band() == (1.0, 1.2)
    low, high = Instrument("B", "equity", 100.0, 0.25).band()
    assert low == pytest.approx(100 / np.exp(0.5)) and high == pytest.approx(100 * np.exp(0.5))


def test_quote_to_dict():
    """A quote serialises its time as ISO-8601."""
    q = Quote("EURUSD", 1.1, datetime(2025, 1, 1, tzinfo=UTC), bid=1.09, ask=1.11)
    assert q.to_dict()["ts"] == "2025-01-01T00:00:00+00:00"
    assert q.to_dict()["bid"] == 1.09


def test_time_helpers_treat_naive_as_utc():
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    naive = datetime(2025, 3, 1, 12, 0)
    assert to_utc(naive) == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    plus2 = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(plus2).hour == 12 and to_utc(plus2).tzinfo == UTC
    assert to_epoch(naive) == to_epoch(plus2)
    assert from_epoch(to_epoch(naive)) == to_utc(naive)


def test_fixed_clock_set_and_advance():
    """A FixedClock returns its pinned time and moves only when told."""
    clock = FixedClock(datetime(2025, 1, 1))
    assert clock() == datetime(2025, 1, 1, tzinfo=UTC)
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert clock() == datetime(2025, 1, 1, 0, 2, 30, tzinfo=UTC)
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock().year == 2026
