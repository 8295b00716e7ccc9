"""ccxt adapter: any ccxt exchange object behind the ``MarketData`` protocol.

Our symbols are ccxt's without the slash (``BTCUSDT`` <-> ``BTC/USDT``); the map is built from
``load_markets()`` (spot markets first). Errors are translated: ccxt ``BadSymbol`` ->
``UnknownSymbolError``; ``NetworkError`` (timeouts, exchange not available, rate limits) ->
``MarketDataUnavailableError`` (retryable); any other ccxt error -> ``FatalError``.
``ccxt`` itself is imported only when an error needs translating or an exchange is built by name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from agentic_app.domain.errors import (
    AgenticError,
    FatalError,
    InvalidInputError,
    MarketDataUnavailableError,
    UnknownSymbolError,
)
from agentic_app.market.base import (
    Bars,
    Instrument,
    Quote,
    normalize_symbol,
    parse_timeframe,
    validate_count,
)
from agentic_app.market.clock import Clock, from_epoch, system_clock, to_epoch, to_utc
from agentic_app.market.instruments import DEFAULT_BY_SYMBOL

LIVE_WINDOW = timedelta(seconds=60)
"""A requested time this close to now is served from the ticker rather than from 1m bars."""

DECIMAL_PLACES, TICK_SIZE = 2, 4
"""ccxt's ``precisionMode`` values (as in ``ccxt.base.decimal_to_precision``)."""


def make_exchange(name: str, **config: Any) -> Any:
    """Build the ccxt exchange ``name`` (e.g. "binance") with ``config``; lazy ccxt import."""
    import ccxt

    cls = getattr(ccxt, name, None)
    if cls is None:
        raise InvalidInputError(f"unknown ccxt exchange {name!r}", field="exchange")
    return cls({"enableRateLimit": True, **config})


def translate_error(exc: Exception, symbol: str | None = None) -> AgenticError:
    """Our error for a ccxt exception (or any exception raised by an exchange call)."""
    import ccxt

    where = f" ({symbol})" if symbol else ""
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbolError(f"exchange does not know symbol{where}: {exc}", field="symbol")
    if isinstance(exc, ccxt.NetworkError):
        return MarketDataUnavailableError(f"exchange unavailable{where}: {exc}")
    return FatalError(f"exchange error{where}: {exc}")


class CcxtFeed:
    """``MarketData`` over a ccxt exchange object (or any object with the same methods)."""

    def __init__(self, exchange: Any, *, clock: Clock | None = None):
        self.exchange = exchange
        self.clock: Clock = clock or system_clock
        self._markets: dict[str, dict] | None = None

    def _call(self, method: str, *args: Any, symbol: str | None = None) -> Any:
        """Call ``exchange.method(*args)``, translating ccxt errors."""
        try:
            return getattr(self.exchange, method)(*args)
        except AgenticError:
            raise
        except Exception as exc:  # ccxt errors, translated below
            raise translate_error(exc, symbol) from exc

    def _market_map(self) -> dict[str, dict]:
        """Our symbol -> ccxt market dict, spot markets taking precedence."""
        if self._markets is None:
            markets = self._call("load_markets") or {}
            ranked = sorted(markets.values(), key=lambda m: (not m.get("spot", True), m["symbol"]))
            out: dict[str, dict] = {}
            for market in ranked:
                ours = self.to_ours(market["symbol"])
                out.setdefault(ours, market)
            self._markets = out
        return self._markets

    @staticmethod
    def to_ours(ccxt_symbol: str) -> str:
        """``BTC/USDT`` (or ``BTC/USDT:USDT``) -> ``BTCUSDT``."""
        return ccxt_symbol.split(":")[0].replace("/", "").upper()

    def to_ccxt(self, symbol: str) -> str:
        """Our symbol -> the exchange's; UnknownSymbolError if the exchange has no such market."""
        sym = normalize_symbol(symbol)
        market = self._market_map().get(sym)
        if market is None:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}", field="symbol")
        return market["symbol"]

    def symbols(self) -> list[str]:
        """Our form of every market the exchange lists, sorted."""
        return sorted(self._market_map())

    def instrument(self, symbol: str) -> Instrument:
        """Instrument from the market's precision and limits (levels from the catalogue if known,
        else from the current ticker)."""
        sym = normalize_symbol(symbol)
        market = self._market_map().get(sym)
        if market is None:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}", field="symbol")
        known = DEFAULT_BY_SYMBOL.get(sym)
        if known is not None:
            base, vol = known.base_price, known.annual_vol
        else:
            base, vol = self.price(sym).price, 0.6
        precision = market.get("precision") or {}
        limits = (market.get("limits") or {}).get("amount") or {}
        digits = getattr(self.exchange, "precisionMode", TICK_SIZE) == DECIMAL_PLACES
        step = _step(precision.get("amount"), 1e-8, digits=digits)
        return Instrument(
            sym,
            "crypto",
            base,
            vol,
            decimals=_decimals(precision.get("price"), 8, digits=digits),
            lot_step=step,
            min_lot=float(limits.get("min") or step),
            contract_size=float(market.get("contractSize") or 1.0),
        )

    def _now(self, at: datetime | None) -> datetime:
        """``at`` as aware UTC, or the clock's time."""
        return to_utc(at) if at is not None else to_utc(self.clock())

    def price(self, symbol: str, at: datetime | None = None) -> Quote:
        """Ticker price when ``at`` is about now; otherwise the close of the last 1m bar
        ending at or before ``at``."""
        sym = normalize_symbol(symbol)
        market = self.to_ccxt(sym)
        now = to_utc(self.clock())
        when = self._now(at)
        if abs(when - now) <= LIVE_WINDOW:
            ticker = self._call("fetch_ticker", market, symbol=sym) or {}
            last = ticker.get("last") or ticker.get("close")
            if last is None:
                raise MarketDataUnavailableError(f"{sym}: ticker has no last price")
            ts = ticker.get("timestamp")
            return Quote(
                sym,
                float(last),
                from_epoch(ts / 1000.0) if ts else when,
                bid=_opt_float(ticker.get("bid")),
                ask=_opt_float(ticker.get("ask")),
            )
        bars = self.bars(sym, "1m", 1, when)
        if len(bars) == 0:
            raise MarketDataUnavailableError(f"{sym}: no 1m bar before {when.isoformat()}")
        return Quote(sym, bars.last_close, when)

    def prices(self, symbols: Iterable[str], at: datetime | None = None) -> dict[str, Quote]:
        """Prices of several symbols (one request each)."""
        when = self._now(at)
        return {normalize_symbol(s): self.price(s, when) for s in symbols}

    def bars(
        self, symbol: str, timeframe: str, count: int, end: datetime | None = None
    ) -> Bars:
        """The last ``count`` closed bars ending <= ``end``, via ``fetch_ohlcv``."""
        sym = normalize_symbol(symbol)
        seconds = parse_timeframe(timeframe)
        tf = timeframe.strip().lower()
        count = validate_count(count, maximum=1000)
        supported = getattr(self.exchange, "timeframes", None)
        if supported and tf not in supported:
            raise InvalidInputError(f"exchange has no {tf} bars", field="timeframe")
        market = self.to_ccxt(sym)
        end_s = math.floor(to_epoch(self._now(end)))
        last_open = (end_s // seconds) * seconds - seconds
        since_ms = (last_open - (count - 1) * seconds) * 1000
        rows = self._call("fetch_ohlcv", market, tf, since_ms, count + 1, symbol=sym) or []
        arr = np.array(
            [r[:6] for r in rows if r[0] // 1000 <= last_open and r[0] >= since_ms],
            dtype=np.float64,
        ).reshape(-1, 6)
        arr = arr[np.argsort(arr[:, 0], kind="stable")][-count:]
        ts = (arr[:, 0] // 1000).astype(np.int64)
        return Bars(sym, tf, ts, *(arr[:, i].copy() for i in range(1, 5)),
                    np.nan_to_num(arr[:, 5]))


def _opt_float(value: Any) -> float | None:
    """float(value), or None when missing."""
    return None if value is None else float(value)


def _step(precision: Any, default: float, *, digits: bool) -> float:
    """Amount step from a ccxt precision: a digit count if ``digits`` else a tick size."""
    if precision is None:
        return default
    return 10.0 ** -int(precision) if digits else float(precision)


def _decimals(precision: Any, default: int, *, digits: bool) -> int:
    """Price decimals from a ccxt precision: a digit count if ``digits`` else a tick size."""
    if precision is None:
        return default
    if digits:
        return int(precision)
    return max(0, round(-math.log10(float(precision))))
