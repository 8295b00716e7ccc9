"""Syntax of the condition language: its limits and reserved words, AST nodes, number text.

The AST nodes are small frozen dataclasses built by :mod:`.parser`; ``_kind`` gives a
node's static type ("bool", "num" or "any") for type checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agentic_app.domain.errors import ConditionError

MAX_LENGTH = 1000
"""Longest condition text accepted, in characters."""

MAX_DEPTH = 50
"""Deepest nesting accepted; each parenthesis, call and unary operator (-, +, not) counts one."""

BUILTIN_FUNCTIONS = frozenset({"abs", "min", "max", "crosses_above", "crosses_below"})
"""Functions of the language itself; they win over an indicator function of the same name."""

KEYWORDS = frozenset({"and", "or", "not"})
"""Reserved words; they cannot be used as names."""

def _error(message: str, pos: int, field: str) -> ConditionError:
    """A positioned ConditionError on ``field``."""
    return ConditionError(message, field=field, position=pos)

# ---------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True, slots=True)
class _Num:
    pos: int
    value: float


@dataclass(frozen=True, slots=True)
class _Name:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class _Indicator:
    pos: int
    func: str
    args: tuple[int | float, ...]
    attr: str  # "" or ".upper"

    @property
    def key(self) -> str:
        return indicator_key(self.func, self.args) + self.attr


@dataclass(frozen=True, slots=True)
class _Neg:
    pos: int
    operand: Any


@dataclass(frozen=True, slots=True)
class _Not:
    pos: int
    operand: Any


@dataclass(frozen=True, slots=True)
class _Arith:
    """Left-associative chain of one precedence level: first (op, op_pos, operand)*."""

    pos: int
    first: Any
    rest: tuple[tuple[str, int, Any], ...]


@dataclass(frozen=True, slots=True)
class _Compare:
    """Comparison chain ``a < b <= c`` meaning ``a < b and b <= c`` (b evaluated once)."""

    pos: int
    first: Any
    rest: tuple[tuple[str, int, Any], ...]


@dataclass(frozen=True, slots=True)
class _Logic:
    pos: int
    op: str  # "and" | "or"
    operands: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Call:
    pos: int
    func: str
    args: tuple[Any, ...]


def _kind(node: Any) -> str:
    """Static type of a node: "bool", "num", or "any" (a name: its value decides)."""
    if isinstance(node, (_Compare, _Logic, _Not)):
        return "bool"
    if isinstance(node, _Call) and node.func.startswith("crosses_"):
        return "bool"
    if isinstance(node, _Name):
        return "any"
    return "num"



def _plain_number(value: float) -> int | float:
    """An integral finite float as int (14.0 -> 14), anything else unchanged."""
    if math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _format_number(value: float) -> str:
    """Shortest text that reads back to the same float, without a trailing '.0'."""
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    plain = _plain_number(value)
    if isinstance(plain, int) and abs(plain) < 10**16:
        return str(plain)
    return repr(float(value))


def indicator_key(name: str, args: tuple[int | float, ...] | list[int | float]) -> str:
    """Environment key for an indicator call: ``indicator_key("RSI", (14,)) == "rsi(14)"``.

    Arguments are joined by ``,`` without spaces and integral numbers lose their ``.0``:
    ``indicator_key("bbands", (20, 2.0)) == "bbands(20,2)"``. An output attribute used in a
    condition (``bbands(20,2).upper``) is appended to this key as written, lower-cased.
    """
    return f"{name.lower()}({','.join(_format_number(float(a)) for a in args)})"

