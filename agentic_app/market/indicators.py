"""Technical indicators, all computed by TA-Lib (no hand-written formulas).

Plain wrappers (``rsi``, ``sma``, ``ema``, ``macd``, ``bbands``, ``atr``) take float arrays and
return TA-Lib's arrays (NaN during the warm-up). ``INDICATORS`` describes each one (params with
defaults and bounds, inputs, outputs, look-back) so nodes and triggers can validate a
configuration; ``compute`` and ``latest`` run one by name on ``Bars``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import talib
from talib import abstract

from agentic_app.domain.errors import InvalidInputError
from agentic_app.market.base import Bars


@dataclass(frozen=True)
class Param:
    """One indicator parameter: our name, TA-Lib's name, default, inclusive bounds, type."""

    name: str
    talib_name: str
    default: float
    minimum: float
    maximum: float
    kind: type = int

    def check(self, value: Any) -> int | float:
        """``value`` converted to this param's type; InvalidInputError(field=name) if invalid."""
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise InvalidInputError(f"{self.name} must be a number, got {value!r}", field=self.name)
        if not np.isfinite(value):
            raise InvalidInputError(f"{self.name} must be finite, got {value!r}", field=self.name)
        if self.kind is int and float(value) != int(value):
            raise InvalidInputError(
                f"{self.name} must be an integer, got {value!r}", field=self.name
            )
        if not self.minimum <= value <= self.maximum:
            raise InvalidInputError(
                f"{self.name} must be between {self.minimum:g} and {self.maximum:g}, got {value!r}",
                field=self.name,
            )
        return int(value) if self.kind is int else float(value)


@dataclass(frozen=True)
class IndicatorSpec:
    """What an indicator needs and gives: TA-Lib function, inputs, params, output names."""

    name: str
    title: str
    talib_func: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]

    def defaults(self) -> dict[str, int | float]:
        """Default value of every param."""
        return {p.name: p.kind(p.default) for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, int | float]:
        """Defaults overlaid with ``params``, each validated; unknown names are rejected."""
        by_name = {p.name: p for p in self.params}
        for key in params:
            if key not in by_name:
                raise InvalidInputError(f"{self.name} has no parameter {key!r}", field=key)
        out = {p.name: p.check(params.get(p.name, p.kind(p.default))) for p in self.params}
        if self.name == "macd" and out["fast"] >= out["slow"]:
            raise InvalidInputError("macd fast period must be below slow period", field="fast")
        return out

    def lookback(self, **params: Any) -> int:
        """Leading NaN count TA-Lib produces for these params (its abstract API's lookback)."""
        resolved = self.resolve(params)
        talib_params = tuple((p.talib_name, resolved[p.name]) for p in self.params)
        return _talib_lookback(self.talib_func, talib_params)

    def min_bars(self, **params: Any) -> int:
        """Bars needed for one output value."""
        return self.lookback(**params) + 1


@lru_cache(maxsize=256)
def _talib_lookback(func: str, talib_params: tuple[tuple[str, float], ...]) -> int:
    """TA-Lib's lookback for ``func`` with ``talib_params``."""
    fn = abstract.Function(func)
    fn.parameters = dict(talib_params)
    return int(fn.lookback)


def _period(default: int, minimum: int = 2, maximum: int = 1000) -> Param:
    """The usual ``period`` param."""
    return Param("period", "timeperiod", default, minimum, maximum)


INDICATORS: dict[str, IndicatorSpec] = {
    "rsi": IndicatorSpec("rsi", "Relative Strength Index", "RSI", ("close",), (_period(14),),
                         ("rsi",)),
    "sma": IndicatorSpec("sma", "Simple Moving Average", "SMA", ("close",), (_period(20),),
                         ("sma",)),
    "ema": IndicatorSpec("ema", "Exponential Moving Average", "EMA", ("close",), (_period(20),),
                         ("ema",)),
    "macd": IndicatorSpec(
        "macd", "Moving Average Convergence/Divergence", "MACD", ("close",),
        (Param("fast", "fastperiod", 12, 2, 500), Param("slow", "slowperiod", 26, 2, 500),
         Param("signal", "signalperiod", 9, 1, 500)),
        ("macd", "signal", "hist"),
    ),
    "bbands": IndicatorSpec(
        "bbands", "Bollinger Bands", "BBANDS", ("close",),
        (_period(20), Param("nbdev_up", "nbdevup", 2.0, 0.1, 10.0, float),
         Param("nbdev_dn", "nbdevdn", 2.0, 0.1, 10.0, float)),
        ("upper", "middle", "lower"),
    ),
    "atr": IndicatorSpec("atr", "Average True Range", "ATR", ("high", "low", "close"),
                         (_period(14, 1),), ("atr",)),
}
"""Every indicator by lower-case name."""


def _arr(values: Any) -> np.ndarray:
    """Contiguous float64 copy-if-needed of ``values``."""
    return np.ascontiguousarray(values, dtype=np.float64)


def rsi(close: Any, period: int = 14) -> np.ndarray:
    """TA-Lib RSI of ``close``."""
    p = INDICATORS["rsi"].resolve({"period": period})
    return talib.RSI(_arr(close), timeperiod=p["period"])


def sma(close: Any, period: int = 20) -> np.ndarray:
    """TA-Lib simple moving average of ``close``."""
    p = INDICATORS["sma"].resolve({"period": period})
    return talib.SMA(_arr(close), timeperiod=p["period"])


def ema(close: Any, period: int = 20) -> np.ndarray:
    """TA-Lib exponential moving average of ``close``."""
    p = INDICATORS["ema"].resolve({"period": period})
    return talib.EMA(_arr(close), timeperiod=p["period"])


def macd(
    close: Any, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib MACD of ``close``: (macd, signal, hist)."""
    p = INDICATORS["macd"].resolve({"fast": fast, "slow": slow, "signal": signal})
    return talib.MACD(
        _arr(close), fastperiod=p["fast"], slowperiod=p["slow"], signalperiod=p["signal"]
    )


def bbands(
    close: Any, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib Bollinger Bands (simple MA) of ``close``: (upper, middle, lower)."""
    p = INDICATORS["bbands"].resolve({"period": period, "nbdev_up": nbdev_up, "nbdev_dn": nbdev_dn})
    return talib.BBANDS(
        _arr(close), timeperiod=p["period"], nbdevup=p["nbdev_up"], nbdevdn=p["nbdev_dn"], matype=0
    )


def atr(high: Any, low: Any, close: Any, period: int = 14) -> np.ndarray:
    """TA-Lib average true range."""
    p = INDICATORS["atr"].resolve({"period": period})
    return talib.ATR(_arr(high), _arr(low), _arr(close), timeperiod=p["period"])


_FUNCS: dict[str, Callable[..., Any]] = {
    "rsi": rsi, "sma": sma, "ema": ema, "macd": macd, "bbands": bbands, "atr": atr,
}


def spec(name: str) -> IndicatorSpec:
    """The spec of indicator ``name`` (case-insensitive); InvalidInputError(field="indicator")."""
    key = str(name).strip().lower()
    if key not in INDICATORS:
        raise InvalidInputError(
            f"unknown indicator {name!r}; use one of {', '.join(INDICATORS)}", field="indicator"
        )
    return INDICATORS[key]


def _inputs(s: IndicatorSpec, bars: Bars | Mapping[str, Any] | np.ndarray) -> list[np.ndarray]:
    """The input arrays ``s`` needs, from Bars, a mapping of arrays, or a bare close array."""
    if isinstance(bars, Bars):
        return [getattr(bars, k) for k in s.inputs]
    if isinstance(bars, Mapping):
        missing = [k for k in s.inputs if k not in bars]
        if missing:
            raise InvalidInputError(f"{s.name} needs {missing}", field="bars")
        return [bars[k] for k in s.inputs]
    if s.inputs != ("close",):
        raise InvalidInputError(f"{s.name} needs {', '.join(s.inputs)} arrays", field="bars")
    return [bars]


def compute(
    name: str, bars: Bars | Mapping[str, Any] | np.ndarray, **params: Any
) -> dict[str, np.ndarray]:
    """Run indicator ``name`` over ``bars``; one array per output name (NaN in the warm-up)."""
    s = spec(name)
    resolved = s.resolve(params)
    result = _FUNCS[s.name](*_inputs(s, bars), **resolved)
    arrays = result if isinstance(result, tuple) else (result,)
    return dict(zip(s.outputs, arrays, strict=True))


def latest(
    name: str, bars: Bars | Mapping[str, Any] | np.ndarray, **params: Any
) -> dict[str, float]:
    """Last value of each output; InvalidInputError(field="bars") when there are too few bars."""
    s = spec(name)
    out = compute(s.name, bars, **params)
    needed = s.min_bars(**params)
    length = len(next(iter(out.values())))
    values = {k: float(v[-1]) for k, v in out.items()} if length else {}
    if length < needed or any(np.isnan(v) for v in values.values()):
        raise InvalidInputError(
            f"{s.name} needs at least {needed} bars, got {length}", field="bars"
        )
    return values
