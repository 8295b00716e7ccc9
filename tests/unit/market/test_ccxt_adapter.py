"""Tests for the ccxt adapter against a stand-in exchange (no network)."""

from datetime import UTC, datetime, timedelta

import ccxt
import numpy as np
import pytest

from agentic_app.domain.errors import (
    FatalError,
    InvalidInputError,
    MarketDataUnavailableError,
    UnknownSymbolError,
)
from agentic_app.market.base import MarketData
from agentic_app.market.ccxt_adapter import CcxtFeed
from agentic_app.market.clock import FixedClock

NOW = datetime(2025, 5, 1, 12, 0, 30, tzinfo=UTC)


class StandInExchange:
    """A tiny in-memory exchange with ccxt's method names, bar maths and errors."""

    def __init__(self, now: datetime):
        self.timeframes = {"1m": "1m", "5m": "5m", "1h": "1h", "1d": "1d"}
        self.now_ms = int(now.timestamp() * 1000)
        self.calls: list[tuple] = []
        self.fail_with: Exception | None = None

    def load_markets(self):
        """Two spot markets and one perpetual that maps to the same symbol as a spot one."""
        self.calls.append(("load_markets",))
        return {
            "BTC/USDT:USDT": {"symbol": "BTC/USDT:USDT", "spot": False},
            "BTC/USDT": {"symbol": "BTC/USDT", "spot": True,
                         "precision": {"amount": 0.00001, "price": 0.01},
                         "limits": {"amount": {"min": 0.0001}}},
            "DOGE/EUR": {"symbol": "DOGE/EUR", "spot": True,
                         "precision": {"amount": 1, "price": 0.0001}},
        }

    def fetch_ticker(self, symbol):
        """Ticker with last/bid/ask, or the configured failure."""
        self.calls.append(("fetch_ticker", symbol))
        if self.fail_with:
            raise self.fail_with
        if symbol not in ("BTC/USDT", "DOGE/EUR"):
            raise ccxt.BadSymbol(f"no market {symbol}")
        return {"symbol": symbol, "last": 65000.5, "bid": 65000.0, "ask": 65001.0,
                "timestamp": self.now_ms - 500}

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        """Bars of ``timeframe`` from ``since``: close = open time in minutes, including the
        still-open current bar, like real exchanges."""
        self.calls.append(("fetch_ohlcv", symbol, timeframe, since, limit))
        if self.fail_with:
            raise self.fail_with
        step = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}[timeframe]
        rows, t = [], since
        while t <= self.now_ms and len(rows) < limit:
            c = t / 60000
            rows.append([t, c - 1, c + 2, c - 2, c, 10.0])
            t += step * 1000
        return rows


@pytest.fixture
def exchange():
    """A fresh stand-in exchange at NOW."""
    return StandInExchange(NOW)


@pytest.fixture
def feed(exchange):
    """A CcxtFeed over the stand-in, clock pinned at NOW."""
    return CcxtFeed(exchange, clock=FixedClock(NOW))


def test_symbols_map_both_ways(feed):
    """Markets map to slash-less symbols, spot first; unknown symbols are refused."""
    assert isinstance(feed, MarketData)
    assert feed.symbols() == ["BTCUSDT", "DOGEEUR"]
    assert feed.to_ccxt("btcusdt") == "BTC/USDT"
    assert CcxtFeed.to_ours("ETH/USDT:USDT") == "ETHUSDT"
    with pytest.raises(UnknownSymbolError) as info:
        feed.to_ccxt("XRPUSDT")
    assert info.value.field == "symbol"


def test_instrument_from_market(feed):
    """Precision and limits become decimals, lot step and minimum lot."""
    btc = feed.instrument("BTCUSDT")
    assert (btc.decimals, btc.lot_step, btc.min_lot, btc.kind) == (2, 0.00001, 0.0001, "crypto")
    doge = feed.instrument("dogeeur")
    assert doge.decimals == 4 and doge.lot_step == 1.0 and doge.base_price == 65000.5


def test_live_price_uses_ticker(feed, exchange):
    """A current price comes from fetch_ticker with bid and ask."""
    quote = feed.price("BTCUSDT")
    assert (quote.symbol, quote.price, quote.bid, quote.ask) == ("BTCUSDT", 65000.5, 65000.0,
                                                                 65001.0)
    assert quote.ts == NOW - timedelta(milliseconds=500)
    assert ("fetch_ticker", "BTC/USDT") in exchange.calls
    assert set(feed.prices(["btcusdt", "DOGEEUR"])) == {"BTCUSDT", "DOGEEUR"}


def test_past_price_uses_last_closed_minute(feed):
    """A past price is the close of the last 1m bar ending at or before it."""
    at = datetime(2025, 5, 1, 10, 0, 45, tzinfo=UTC)
    quote = feed.price("BTCUSDT", at)
    bar_open_minutes = (at - timedelta(seconds=45) - timedelta(minutes=1)).timestamp() / 60
    assert quote.price == bar_open_minutes and quote.ts == at


def test_ohlcv_conversion_drops_open_bar(feed, exchange):
    """fetch_ohlcv rows become Bars in seconds; the still-open bar is dropped."""
    bars = feed.bars("BTCUSDT", "1h", 3)
    assert len(bars) == 3
    assert bars.end == datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    assert np.all(np.diff(bars.ts) == 3600)
    assert np.array_equal(bars.close, bars.ts / 60.0)
    assert bars.open.dtype == np.float64 and bars.volume.tolist() == [10.0] * 3
    call = exchange.calls[-1]
    assert call[:3] == ("fetch_ohlcv", "BTC/USDT", "1h")
    assert call[3] == int((NOW.replace(minute=0, second=0) - timedelta(hours=3)).timestamp()) * 1000


def test_unsupported_timeframe(feed):
    """A timeframe the exchange lacks raises InvalidInputError(field='timeframe')."""
    with pytest.raises(InvalidInputError) as info:
        feed.bars("BTCUSDT", "4h", 3)
    assert info.value.field == "timeframe"


@pytest.mark.parametrize("raised,expected", [
    (ccxt.NetworkError("down"), MarketDataUnavailableError),
    (ccxt.ExchangeNotAvailable("maintenance"), MarketDataUnavailableError),
    (ccxt.RequestTimeout("slow"), MarketDataUnavailableError),
    (ccxt.BadSymbol("no such market"), UnknownSymbolError),
    (ccxt.AuthenticationError("bad key"), FatalError),
])
def test_errors_are_translated(feed, exchange, raised, expected):
    """ccxt errors become ours: network ones retryable, bad symbols unknown, others fatal."""
    exchange.fail_with = raised
    with pytest.raises(expected) as info:
        feed.price("BTCUSDT")
    assert info.value.retryable == (expected is MarketDataUnavailableError)
    with pytest.raises(expected):
        feed.bars("BTCUSDT", "1m", 5)
