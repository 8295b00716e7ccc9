"""Values seen by an evaluated condition: lookups in the environment, numbers, series, truth."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from agentic_app.domain.conditions.syntax import _error

Env = Mapping[str, Any]
_Fn = Callable[[Env, "Env | None"], Any]
# Values


class _NoPreviousError(Exception):
    """Raised by previous-value closures when no previous value exists; crossings catch it."""


def _find_ci(env: Env, key: str, pos: int, field: str) -> Any:
    """Slow path of a lookup: case-insensitive scan, else a positioned error."""
    for name, value in env.items():
        if isinstance(name, str) and name.lower() == key:
            return value
    raise _error(f"missing value for '{key}' at position {pos}", pos, field)


_TYPE_KINDS: dict[type, str] = {
    float: "number",
    int: "number",
    bool: "number",
    list: "series",
    tuple: "series",
}


def _type_kind(kind: type) -> str:
    """Classify a value type as "number", "series" or "other"; memoized (ABC checks are slow)."""
    found = _TYPE_KINDS.get(kind)
    if found is None:
        if issubclass(kind, (numbers.Real, Decimal)):
            found = "number"
        elif issubclass(kind, (str, bytes, bytearray, Mapping, numbers.Number)):
            found = "other"
        elif hasattr(kind, "__len__") and hasattr(kind, "__getitem__"):
            found = "series"
        else:
            found = "other"
        _TYPE_KINDS[kind] = found
    return found


def _number(value: Any, key: str, pos: int, field: str, allow_series: bool) -> float:
    """Current value of ``value`` as a float (a series gives its last element)."""
    kind = type(value)
    if kind is float:
        return value
    found = _type_kind(kind)
    if found == "number":
        try:
            return float(value)
        except (OverflowError, ValueError, TypeError):
            raise _error(
                f"value of '{key}' is not a usable number at position {pos}", pos, field
            ) from None
    if found == "series" and allow_series:
        if _series_length(value, key, pos, field) == 0:
            raise _error(f"series '{key}' is empty at position {pos}", pos, field)
        last = value[-1]
        return last if type(last) is float else _number(last, key, pos, field, False)
    what = "value" if allow_series else "series element"
    raise _error(
        f"{what} of '{key}' is not a number ({kind.__name__}) at position {pos}", pos, field
    )


def _series_length(value: Any, key: str, pos: int, field: str) -> int:
    try:
        return len(value)
    except TypeError:  # e.g. a 0-d numpy array
        raise _error(
            f"value of '{key}' is not a number or series at position {pos}", pos, field
        ) from None


def _truth(value: Any) -> bool:
    """Truth of a value: bools as they are, numbers true iff non-zero and not NaN."""
    if value is True or value is False:
        return value
    return value != 0 and not math.isnan(value)


