"""Helpers nodes share: the condition environment, upstream bars, and message templates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from agentic_app.domain import conditions
from agentic_app.domain.errors import ConditionError, InvalidInputError

SERIES_TAIL = 200
"""How many points of a series a node keeps in its output (history for crossings and charts)."""


def series_tail(values: np.ndarray, n: int = SERIES_TAIL) -> list[float | None]:
    """Last ``n`` values as JSON-friendly floats (NaN -> None)."""
    tail = np.asarray(values, dtype=float)[-n:]
    return [None if np.isnan(v) else float(v) for v in tail]


def condition_env(ancestors: Mapping[str, dict], trigger_payload: Mapping[str, Any],
                  trigger_id: str | None) -> dict[str, Any]:
    """Names a condition may use: ``<node>`` (its value or series), ``<node>.<key>``, ``trigger.*``.

    A node whose output has ``values`` (a series) binds its id to that series, so both
    ``rsi < 30`` (current value) and ``crosses_below(rsi, 30)`` (previous value) work.
    """
    env: dict[str, Any] = {}
    for node_id, output in ancestors.items():
        if not isinstance(output, Mapping):
            continue
        key = node_id.lower()
        for name, value in output.items():
            if _usable(value):
                env[f"{key}.{name.lower()}"] = _clean_series(value)
        if _usable(output.get("values")):
            env[key] = _clean_series(output["values"])
        elif _usable(output.get("value")):
            env[key] = output["value"]
    for name, value in trigger_payload.items():
        if _usable(value):
            env[f"trigger.{name.lower()}"] = _clean_series(value)
            if trigger_id:
                env.setdefault(f"{trigger_id.lower()}.{name.lower()}", _clean_series(value))
    return env


def _usable(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return True
    return isinstance(value, list | tuple) and bool(value) and all(
        v is None or isinstance(v, int | float) for v in value)


def _clean_series(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return value


def find_bars(ancestors: Mapping[str, dict], source: str | None = None) -> dict:
    """The bars output (with ``close`` etc.) of ``source`` or of the nearest ancestor having one."""
    if source:
        out = ancestors.get(source)
        if not isinstance(out, Mapping) or "close" not in out:
            raise InvalidInputError(f"node {source!r} has no bars output", field="source")
        return dict(out)
    for out in reversed(list(ancestors.values())):
        if isinstance(out, Mapping) and isinstance(out.get("close"), list):
            return dict(out)
    raise InvalidInputError("no upstream node provides bars (add a 'bars' node before this one)",
                            field="source")


def bars_arrays(bars: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """float64 arrays of open/high/low/close/volume from a bars output."""
    return {k: np.asarray(bars[k], dtype=float) for k in ("open", "high", "low", "close", "volume")
            if k in bars}


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def render_template(text: str, env: Mapping[str, Any]) -> str:
    """Replace ``{name}`` with values from ``env`` (unknown names are left as written)."""
    def _sub(match: re.Match) -> str:
        value = env.get(match.group(1).lower())
        if isinstance(value, list):
            value = value[-1] if value else None
        if value is None:
            return match.group(0)
        return f"{value:g}" if isinstance(value, float) else str(value)

    return _PLACEHOLDER.sub(_sub, text)


def check_condition(text: str, **kwargs: Any) -> str:
    """Validate a condition inside a pydantic validator (ValueError keeps the field's location)."""
    try:
        conditions.validate(text, **kwargs)
    except ConditionError as exc:
        raise ValueError(exc.message) from None
    return text
