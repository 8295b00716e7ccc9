"""The public face of the condition language: ``parse``, ``validate``, :class:`Condition`."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from agentic_app.domain.conditions.evaluator import _NOT_CONST, _Compiler
from agentic_app.domain.conditions.lexer import _tokenize
from agentic_app.domain.conditions.parser import _Parser
from agentic_app.domain.conditions.syntax import (
    BUILTIN_FUNCTIONS,
    MAX_LENGTH,
    _Arith,
    _Call,
    _Compare,
    _error,
    _format_number,
    _Indicator,
    _Logic,
    _Name,
    _Neg,
    _Not,
    _Num,
    indicator_key,
)
from agentic_app.domain.conditions.values import Env, _truth
from agentic_app.domain.errors import ConditionError

# Canonical text

_PREC_OR, _PREC_AND, _PREC_NOT, _PREC_CMP, _PREC_SUM, _PREC_PRODUCT, _PREC_UNARY = range(1, 8)
_PREC_ATOM = 9


def _precedence(node: Any) -> int:
    if isinstance(node, _Logic):
        return _PREC_OR if node.op == "or" else _PREC_AND
    if isinstance(node, _Not):
        return _PREC_NOT
    if isinstance(node, _Compare):
        return _PREC_CMP
    if isinstance(node, _Arith):
        return _PREC_SUM if node.rest[0][0] in "+-" else _PREC_PRODUCT
    if isinstance(node, _Neg):
        return _PREC_UNARY
    return _PREC_ATOM


def _render(node: Any) -> str:
    if isinstance(node, _Num):
        return _format_number(node.value)
    if isinstance(node, _Name):
        return node.name
    if isinstance(node, _Indicator):
        return indicator_key(node.func, node.args).replace(",", ", ") + node.attr
    if isinstance(node, _Call):
        return f"{node.func}({', '.join(_render(arg) for arg in node.args)})"
    prec = _precedence(node)
    if isinstance(node, _Neg):
        return "-" + _wrap(node.operand, _precedence(node.operand) < prec)
    if isinstance(node, _Not):
        return "not " + _wrap(node.operand, _precedence(node.operand) < prec)
    if isinstance(node, _Logic):
        return f" {node.op} ".join(_wrap(o, _precedence(o) <= prec) for o in node.operands)
    # _Arith: first operand may share the level (left-assoc); _Compare: never
    strict = isinstance(node, _Compare)
    parts = [_wrap(node.first, _precedence(node.first) < prec + strict)]
    for op, _, operand in node.rest:
        parts.append(f" {op} " + _wrap(operand, _precedence(operand) <= prec))
    return "".join(parts)


def _wrap(node: Any, needed: bool) -> str:
    text = _render(node)
    return f"({text})" if needed else text


# ---------------------------------------------------------------------------------------------
# Public API


class Condition:
    """A parsed, compiled condition; immutable and cheap to evaluate many times.

    Attributes: ``source`` (the original text), ``names`` (frozenset of referenced variable
    names, lower-case), ``indicator_refs`` (tuple of ``(function, args)`` in order of first
    use, args as ints when integral), ``indicator_keys`` (frozenset of the environment keys
    the indicator calls read, e.g. ``"rsi(14)"``, ``"bbands(20,2).upper"``).
    """

    __slots__ = (
        "_ast",
        "_canonical",
        "_field",
        "_fn",
        "indicator_keys",
        "indicator_refs",
        "names",
        "source",
    )

    def __init__(self, source: str, ast: Any, parser: _Parser):
        """Built by :func:`parse`; not meant to be called directly."""
        self.source = source
        self.names = frozenset(parser.used_names)
        self.indicator_refs = tuple(parser.refs)
        self.indicator_keys = frozenset(parser.keys)
        self._ast = ast
        self._field = parser.field
        self._fn = _Compiler(parser.field).compile(ast, False)[0]
        self._canonical = _render(ast)

    def evaluate(self, env: Env, previous: Env | None = None) -> bool | float:
        """Value of the condition: a bool for comparisons/logic, else a float.

        ``env`` maps lower-case names and indicator keys to numbers or series;
        ``previous`` optionally maps the same keys to their previous values (for crossings).
        """
        return self._fn(env, previous)

    def test(self, env: Env, previous: Env | None = None) -> bool:
        """Truth of the condition as a trigger: numbers are true iff non-zero and not NaN."""
        return _truth(self._fn(env, previous))

    def canonical(self) -> str:
        """Normalized text: lower-case names, single spaces, only the parentheses needed."""
        return self._canonical

    def as_price_bands(self, name: str = "price") -> list[tuple[float, float, bool, bool]] | None:
        """The set of values of ``name`` where the condition is true, as sorted intervals.

        Only for conditions built from comparisons of ``name`` with constants (``price > 1.1``,
        ``1.05 < price <= 1.15``, ``price < 1 or price == 2``, constant arithmetic such as
        ``1.10 + 0.02``) joined by ``and``/``or``/``not``; returns None for anything else
        (other names, indicators, crossings, arithmetic on ``name``).

        Each interval is ``(lo, hi, lo_closed, hi_closed)``; a price ``x`` satisfies the
        condition iff for some interval ``lo < x < hi`` or ``x == lo and lo_closed`` or
        ``x == hi and hi_closed``. Intervals are disjoint and ascending, unbounded ends are
        ``-inf``/``inf`` (open). An empty list means never true. The answer agrees with
        :meth:`test` for every finite float price; a NaN price must be filtered out first
        (evaluation would make ``not (price > 1)`` true for NaN, the bands do not).
        """
        key = name.lower()
        if self.indicator_refs or not self.names <= {key}:
            return None
        points: list[float] = []
        if not _band_shape(self._ast, key, points, self._field):
            return None
        cuts = sorted({p for p in points if math.isfinite(p)})
        atoms: list[tuple[float, float, bool, bool, float]] = []
        lo = -math.inf
        for cut in [*cuts, math.inf]:
            rep = math.nextafter(cut, -math.inf) if lo == -math.inf else math.nextafter(lo, cut)
            if cut == math.inf and lo == -math.inf:
                rep = 0.0
            if math.isfinite(rep) and lo < rep < cut:
                atoms.append((lo, cut, False, False, rep))
            if cut != math.inf:
                atoms.append((cut, cut, True, True, cut))
            lo = cut
        bands: list[tuple[float, float, bool, bool]] = []
        try:
            for a_lo, a_hi, a_lc, a_hc, rep in atoms:
                if not self.test({key: rep}):
                    continue
                if bands and bands[-1][1] == a_lo and (bands[-1][3] or a_lc):
                    bands[-1] = (bands[-1][0], a_hi, bands[-1][2], a_hc)
                else:
                    bands.append((a_lo, a_hi, a_lc, a_hc))
        except ConditionError:
            return None
        return bands

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other._canonical == self._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)


def _band_shape(node: Any, key: str, points: list[float], field: str) -> bool:
    """True if ``node`` is a boolean combination of ``key`` compared with constants."""
    if isinstance(node, _Logic):
        return all(_band_shape(o, key, points, field) for o in node.operands)
    if isinstance(node, _Not):
        return _band_shape(node.operand, key, points, field)
    if isinstance(node, _Name):  # bare price as a truth value: true iff != 0
        points.append(0.0)
        return node.name == key
    if isinstance(node, _Compare):
        for operand in (node.first, *(o for _, _, o in node.rest)):
            if isinstance(operand, _Name) and operand.name == key:
                continue
            value = _Compiler(field).compile(operand, False)[1]
            if value is _NOT_CONST:
                return False
            points.append(value)
        return True
    return _Compiler(field).compile(node, False)[1] is not _NOT_CONST


def parse(
    text: str,
    *,
    names: Collection[str] | None = None,
    indicator_functions: Collection[str] = (),
    field: str = "condition",
) -> Condition:
    """Parse and compile ``text``; raise :class:`ConditionError` (with ``position``) if invalid.

    ``names``: if given, the only variable names allowed (case-insensitive).
    ``indicator_functions``: function names such as ``{"rsi", "sma"}`` whose calls take number
    literals and read the environment key :func:`indicator_key` builds.
    ``field``: the ``field`` reported on errors.
    """
    if not isinstance(text, str):
        raise _error(f"condition must be text, not {type(text).__name__}", 0, field)
    if len(text) > MAX_LENGTH:
        raise _error(
            f"condition is longer than {MAX_LENGTH} characters at position {MAX_LENGTH}",
            MAX_LENGTH,
            field,
        )
    tokens = _tokenize(text, field)
    if tokens[0].kind == "end":
        raise _error("condition is empty at position 0", 0, field)
    allowed = None if names is None else frozenset(n.lower() for n in names)
    indicators = frozenset(f.lower() for f in indicator_functions) - BUILTIN_FUNCTIONS
    parser = _Parser(tokens, allowed, indicators, field)
    ast = parser.parse()
    return Condition(text, ast, parser)


def validate(
    text: str,
    names: Collection[str] | None = None,
    indicator_functions: Collection[str] = (),
    *,
    field: str = "condition",
) -> None:
    """Raise the positioned :class:`ConditionError` if ``text`` is not a valid condition."""
    parse(text, names=names, indicator_functions=indicator_functions, field=field)


def flatten_env(outputs: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into lower-case dotted keys for :meth:`Condition.evaluate`.

    ``{"MACD": {"signal": [..]}, "trigger": {"price": 1.1}}`` gives
    ``{"macd.signal": [..], "trigger.price": 1.1}``; non-mapping values (numbers, series)
    are kept as they are.
    """
    flat: dict[str, Any] = {}
    for name, value in outputs.items():
        key = f"{prefix}{str(name).lower()}"
        if isinstance(value, Mapping):
            flat.update(flatten_env(value, key + "."))
        else:
            flat[key] = value
    return flat
