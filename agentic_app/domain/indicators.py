"""Indicator schemas: the one place that says what each technical indicator takes and gives.

For every indicator (``rsi``, ``sma``, ``ema``, ``macd``, ``bbands``, ``atr``): its params with
defaults and inclusive bounds, the price inputs it reads, its named outputs and its main output
(the value a bare ``bbands`` means: the middle band). ``market.indicators`` computes them with
TA-Lib from these schemas; trigger configs, indicator nodes and conditions validate against
them. Also the bar timeframes they run on. Pure data and checks: no TA-Lib, no I/O.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentic_app.domain.errors import InvalidInputError

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}
"""Bar timeframes indicators are computed on, with their length in seconds."""


@dataclass(frozen=True)
class Param:
    """One indicator parameter: name, default, inclusive bounds and type (int or float)."""

    name: str
    default: float
    minimum: float
    maximum: float
    kind: type = int

    def check(self, value: Any) -> int | float:
        """``value`` converted to this param's type; InvalidInputError(field=name) if invalid."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(f"{self.name} must be a number, got {value!r}", field=self.name)
        if not math.isfinite(value):
            raise InvalidInputError(f"{self.name} must be finite, got {value!r}", field=self.name)
        if self.kind is int and float(value) != int(value):
            raise InvalidInputError(f"{self.name} must be a whole number, got {value!r}",
                                    field=self.name)
        if not self.minimum <= value <= self.maximum:
            raise InvalidInputError(
                f"{self.name} must be between {self.minimum:g} and {self.maximum:g}, got {value!r}",
                field=self.name,
            )
        return int(value) if self.kind is int else float(value)


@dataclass(frozen=True)
class IndicatorSchema:
    """What an indicator takes and gives (see the module docstring).

    ``aliases`` maps a shorthand param to the params it sets (``std_dev`` sets both Bollinger
    deviations); ``main`` is the output a bare indicator name stands for.
    """

    name: str
    title: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    main: str = ""
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def main_output(self) -> str:
        """The output a bare indicator name means (``main``, else the first output)."""
        return self.main or self.outputs[0]

    def defaults(self) -> dict[str, int | float]:
        """Default value of every param."""
        return {p.name: p.kind(p.default) for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, int | float]:
        """Defaults overlaid with ``params`` (aliases expanded), each validated.

        Unknown names are rejected (``field`` = the first unknown name); MACD needs
        ``fast < slow`` (``field="fast"``).
        """
        given = dict(params)
        for alias, targets in self.aliases.items():
            if alias in given:
                value = given.pop(alias)
                for target in targets:
                    given.setdefault(target, value)
        by_name = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            allowed = ", ".join([*by_name, *self.aliases])
            raise InvalidInputError(
                f"unknown {self.name} param(s) {', '.join(unknown)}; allowed: {allowed}",
                field=unknown[0])
        out = {p.name: p.check(given.get(p.name, p.kind(p.default))) for p in self.params}
        if self.name == "macd" and out["fast"] >= out["slow"]:
            raise InvalidInputError("macd fast must be smaller than slow", field="fast")
        return out


def _period(default: int, minimum: int = 2, maximum: int = 1000) -> Param:
    """The usual ``period`` param."""
    return Param("period", default, minimum, maximum)


INDICATOR_SCHEMAS: dict[str, IndicatorSchema] = {
    "rsi": IndicatorSchema("rsi", "Relative Strength Index", ("close",), (_period(14),),
                           ("rsi",)),
    "sma": IndicatorSchema("sma", "Simple Moving Average", ("close",), (_period(20),),
                           ("sma",)),
    "ema": IndicatorSchema("ema", "Exponential Moving Average", ("close",), (_period(20),),
                           ("ema",)),
    "macd": IndicatorSchema(
        "macd", "Moving Average Convergence/Divergence", ("close",),
        (Param("fast", 12, 2, 500), Param("slow", 26, 2, 500), Param("signal", 9, 1, 500)),
        ("macd", "signal", "hist"),
    ),
    "bbands": IndicatorSchema(
        "bbands", "Bollinger Bands", ("close",),
        (_period(20), Param("nbdev_up", 2.0, 0.1, 10.0, float),
         Param("nbdev_dn", 2.0, 0.1, 10.0, float)),
        ("upper", "middle", "lower"), main="middle",
        aliases={"std_dev": ("nbdev_up", "nbdev_dn")},
    ),
    "atr": IndicatorSchema("atr", "Average True Range", ("high", "low", "close"),
                           (_period(14, 1),), ("atr",)),
}
"""Every indicator by lower-case name."""


def indicator_schema(name: str) -> IndicatorSchema:
    """The schema of indicator ``name`` (case-insensitive); InvalidInputError(field="indicator")."""
    key = str(name).strip().lower()
    if key not in INDICATOR_SCHEMAS:
        raise InvalidInputError(
            f"unknown indicator {name!r}; use one of {', '.join(INDICATOR_SCHEMAS)}",
            field="indicator",
        )
    return INDICATOR_SCHEMAS[key]
