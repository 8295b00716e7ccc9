"""How a market trigger evaluates: its config compiled once into a :class:`MarketRule`.

A rule holds the parsed condition, the names it reads (``names``: condition name -> indicator
output, ``"close"`` for ``price``), its edge settings, a fingerprint of what it watches and,
when the condition allows it, its *vector form*: the condition is a boolean combination of
``name <op> constant`` (``Condition.as_price_bands``) or a crossing of ``name`` with a constant,
stored as intervals of ``name`` where it is true. The watcher evaluates vector forms for many
triggers at once with numpy; :meth:`MarketRule.test` is the per-trigger path and the reference.

Rules of evaluation (edge state and its rules: ``edge``):

* ``price`` is the current price (price triggers) or the close (indicator triggers).
* **Crossings.** ``crosses_above(price, X)`` is ``previous <= X < current`` where previous is the
  value at the trigger's previous evaluation; with no previous evaluation it is false.
* **Re-arm band** (price triggers, ``rearm_band`` = b >= 0). After a fire the trigger re-arms
  only at an evaluation where the condition is false *and* the price is at least ``b`` away from
  the true region: for the vector form the distance to every interval is ``>= b``; for other
  conditions the condition must also be false at ``price - b`` and ``price + b``.

The watcher (``engine.scheduler.market_watch``) evaluates rules many at a time; the backtest
(``engine.scheduler.backtest``) replays one rule over the feed's history with the same code.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from agentic_app.domain import conditions
from agentic_app.domain.conditions import Condition
from agentic_app.domain.errors import ConditionError
from agentic_app.domain.triggers.edge import SlotSettings
from agentic_app.domain.triggers.market import (
    PRICE_NAME,
    IndicatorTriggerConfig,
    PriceTriggerConfig,
    condition_names,
)

TriggerKind = Literal["price", "indicator"]
Band = tuple[float, float, bool, bool]
"""An interval ``(lo, hi, lo_closed, hi_closed)`` of values where a condition is true."""


@dataclass(frozen=True, slots=True)
class MarketRule:
    """One market trigger, compiled: see the module docstring."""

    kind: TriggerKind
    config: PriceTriggerConfig | IndicatorTriggerConfig
    condition: Condition
    names: Mapping[str, str]
    name: str
    bands: list[Band] | None
    cross: bool
    band: float
    fingerprint: str
    settings: SlotSettings

    @property
    def group(self) -> tuple | None:
        """What indicator triggers share a computation by: (symbol, timeframe, indicator,
        params, tick mode); None for price triggers."""
        cfg = self.config
        if not isinstance(cfg, IndicatorTriggerConfig):
            return None
        return (cfg.symbol, cfg.timeframe, cfg.indicator, tuple(sorted(cfg.params.items())),
                cfg.evaluate_on == "tick")

    def test(self, env: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> bool:
        """The condition on ``env`` (values or series), ``previous`` for crossings."""
        return self.condition.test(env, previous)

    def far(self, value: float, previous: Mapping[str, Any] | None = None) -> bool:
        """Whether ``value`` of :attr:`name` is at least the re-arm band away from the true
        region (exact for the vector form, else the ``value +- band`` probe)."""
        b = self.band
        if self.bands is not None:
            return all(value <= lo - b or value >= hi + b for lo, hi, _, _ in self.bands)
        return not any(self.condition.test({self.name: value + d}, previous) for d in (-b, b))


def _constant(text: str) -> float | None:
    """Value of a constant expression's text, or None if it is not one."""
    try:
        value = conditions.parse(text, names=()).evaluate({})
    except ConditionError:
        return None
    return None if isinstance(value, bool) else float(value)


def _crossing_bands(cond: Condition, name: str) -> list[Band] | None:
    """Region of ``crosses_above/below(name, const)`` (either argument order), else None."""
    text = cond.canonical()
    for func, above in (("crosses_above", True), ("crosses_below", False)):
        if not text.startswith(func + "(") or not text.endswith(")"):
            continue
        head, tail = f"{func}({name}, ", f", {name})"
        if text.startswith(head):
            value, up = _constant(text[len(head) : -1]), above
        elif text.endswith(tail):
            value, up = _constant(text[len(func) + 1 : -len(tail)]), not above
        else:
            continue
        if value is None or math.isnan(value):
            return None
        return [(value, math.inf, False, False)] if up else [(-math.inf, value, False, False)]
    return None


def _vector_form(cond: Condition, name: str) -> tuple[list[Band] | None, bool]:
    """(bands, is_crossing) for the vector path, or (None, False) for the scalar path."""
    if cond.names != frozenset({name}) or cond.indicator_refs:
        return None, False
    bands = cond.as_price_bands(name)
    if bands is not None:
        return bands, False
    cross = _crossing_bands(cond, name)
    return (cross, True) if cross is not None else (None, False)


def _fingerprint(parts: dict[str, Any]) -> str:
    """Short stable hash of what a trigger watches."""
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=8).hexdigest()


def compile_rule(config: PriceTriggerConfig | IndicatorTriggerConfig,
                 created_at: datetime | None = None) -> MarketRule:
    """Compile a validated market config (``created_at``: not evaluated before this time).

    Cannot fail for a config that validated: its condition was parsed with the same names.
    """
    watched: dict[str, Any] = {"kind": config.type, "symbol": config.symbol}
    if isinstance(config, PriceTriggerConfig):
        names = {PRICE_NAME: "close"}
        cond = config.compiled_condition
        name = PRICE_NAME
    elif isinstance(config, IndicatorTriggerConfig):
        names = condition_names(config.indicator)
        cond = config.compiled_condition
        used = sorted(cond.names)
        name = used[0] if len(used) == 1 else config.indicator
        watched.update(timeframe=config.timeframe, indicator=config.indicator,
                       params=dict(config.params), evaluate_on=config.evaluate_on)
    else:
        raise TypeError(f"not a market trigger config: {type(config).__name__}")
    watched["condition"] = cond.canonical()
    bands, cross = _vector_form(cond, name)
    if created_at is not None and created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    settings = SlotSettings(
        cooldown_seconds=float(config.cooldown_seconds),
        expires_at=config.expires_at,
        max_fires=config.max_fires,
        fire_if_true_at_start=bool(getattr(config, "fire_if_true_at_start", False)),
        created_at=created_at,
    )
    return MarketRule(config.type, config, cond, names, name, bands, cross,
                      float(getattr(config, "rearm_band", 0.0)), _fingerprint(watched), settings)
