"""Technical indicators, all computed by TA-Lib (no hand-written formulas).

Plain wrappers (``rsi``, ``sma``, ``ema``, ``macd``, ``bbands``, ``atr``) take float arrays and
return TA-Lib's arrays (NaN during the warm-up). What each indicator takes and gives (params,
bounds, outputs) is its schema in ``domain.indicators``; ``INDICATORS`` adds the TA-Lib names
and the look-back; ``compute`` and ``latest`` run one by name on ``Bars``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.indicators import (
    INDICATOR_SCHEMAS,
    IndicatorSchema,
    Param,
    indicator_schema,
)
from agentic_app.market.base import Bars


def _import_talib():
    """TA-Lib, imported as if pandas were absent. TA-Lib wraps its functions for pandas
    Series when pandas is importable, which loads pandas (~0.5 s) in every worker and
    scheduler; pandas is installed for the trading calendars (``exchange_calendars``, loaded
    only where a calendar is used) and this module never passes pandas objects."""
    import sys

    hide = "pandas" not in sys.modules
    if hide:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import talib
        from talib import abstract
    finally:
        if hide and sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
    return talib, abstract


talib, abstract = _import_talib()


@dataclass(frozen=True)
class IndicatorSpec:
    """An indicator's schema (``domain.indicators``) plus the TA-Lib names that compute it."""

    schema: IndicatorSchema
    talib_func: str
    talib_params: Mapping[str, str]

    @property
    def name(self) -> str:
        """Lower-case indicator name."""
        return self.schema.name

    @property
    def title(self) -> str:
        """Human-readable name."""
        return self.schema.title

    @property
    def inputs(self) -> tuple[str, ...]:
        """Price arrays read (close; high, low, close for ATR)."""
        return self.schema.inputs

    @property
    def params(self) -> tuple[Param, ...]:
        """The schema's params."""
        return self.schema.params

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names, in TA-Lib's order."""
        return self.schema.outputs

    def defaults(self) -> dict[str, int | float]:
        """Default value of every param."""
        return self.schema.defaults()

    def resolve(self, params: Mapping[str, Any]) -> dict[str, int | float]:
        """Defaults overlaid with ``params``, each validated (see ``IndicatorSchema.resolve``)."""
        return self.schema.resolve(params)

    def lookback(self, **params: Any) -> int:
        """Leading NaN count TA-Lib produces for these params (its abstract API's lookback)."""
        resolved = self.resolve(params)
        talib_params = tuple((self.talib_params[p.name], resolved[p.name]) for p in self.params)
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


_TALIB_NAMES: dict[str, tuple[str, dict[str, str]]] = {
    "rsi": ("RSI", {"period": "timeperiod"}),
    "sma": ("SMA", {"period": "timeperiod"}),
    "ema": ("EMA", {"period": "timeperiod"}),
    "macd": ("MACD", {"fast": "fastperiod", "slow": "slowperiod", "signal": "signalperiod"}),
    "bbands": ("BBANDS", {"period": "timeperiod", "nbdev_up": "nbdevup",
                          "nbdev_dn": "nbdevdn"}),
    "atr": ("ATR", {"period": "timeperiod"}),
}
"""TA-Lib function and param names of each indicator."""

INDICATORS: dict[str, IndicatorSpec] = {
    name: IndicatorSpec(schema, *_TALIB_NAMES[name]) for name, schema in INDICATOR_SCHEMAS.items()
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
    return INDICATORS[indicator_schema(name).name]


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
