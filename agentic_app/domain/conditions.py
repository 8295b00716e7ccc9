"""Safe condition language: own tokenizer, recursive-descent parser and closure compiler.

Conditions such as ``price > 1.10``, ``RSI(14) < 30`` or ``crosses_above(sma(50), sma(200))``
are parsed once into a small AST, type-checked, and compiled into nested Python closures.
Nothing here ever calls ``eval``, ``exec``, ``compile`` or ``ast.literal_eval``.

Grammar, lowest precedence first (keywords and names are case-insensitive)::

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*   # chains like Python
    sum        := product (("+" | "-") product)*                        # left-associative
    product    := unary (("*" | "/") unary)*                            # left-associative
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | NAME | call | "(" condition ")"
    call       := NAME "(" [condition ("," condition)*] ")" [".attr"]   # .attr: indicators only

Names are ``[A-Za-z_][A-Za-z0-9_]*`` joined by dots (``macd.signal`` is one name) and are
lower-cased. Functions: ``abs(x)``, ``min(a, b, ...)``, ``max(a, b, ...)``,
``crosses_above(a, b)``, ``crosses_below(a, b)``, plus the indicator functions the caller
names (``rsi(14)`` looks up the environment key ``"rsi(14)"``, see :func:`indicator_key`).

Evaluation rules:

* Environment keys are the lower-case names (a missing key falls back to a slower
  case-insensitive scan). Use :func:`flatten_env` to turn nested outputs into dotted keys.
* A value is a number (int, float, bool, Decimal, numpy scalar) or a series: any sequence of
  numbers supporting ``len()`` and negative indexing (list, tuple, numpy array). A series'
  current value is its last element and its previous value the one before. All values are
  used as floats; bools count as 1.0 / 0.0.
* ``crosses_above(a, b)`` is true iff ``prev(a) <= prev(b)`` and ``cur(a) > cur(b)``
  (``crosses_below`` is symmetric). Previous values come from series, or for scalars from the
  ``previous`` mapping (same keys); the arguments may be any arithmetic expression, evaluated
  on previous values. **With no previous value available, a crossing is False.**
* Comparisons and ``and``/``or``/``not`` yield bools; ``and``/``or`` short-circuit. A number used
  as a truth value is true iff it is non-zero and not NaN. Comparisons with NaN are false.
* A missing name, a non-numeric value, an empty series or a division by zero raises
  :class:`ConditionError` with the position of the name or of the ``/``.
"""

from __future__ import annotations

import difflib
import math
import numbers
import operator
import re
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
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

Env = Mapping[str, Any]
_Fn = Callable[[Env, "Env | None"], Any]

# ---------------------------------------------------------------------------------------------
# Tokenizer

_TOKEN_RE = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<attr>\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op><=|>=|==|!=|[-+*/<>(),])"
)
_NUMBER_TAIL = frozenset(string.ascii_letters + string.digits + "_.")
_CHAR_HINTS = {
    "=": " (use '==' to compare)",
    "&": " (use 'and')",
    "|": " (use 'or')",
    "!": " (use 'not' or '!=')",
    "'": " (strings are not supported)",
    '"': " (strings are not supported)",
}
_COMPARE_OPS = frozenset({"<", "<=", ">", ">=", "==", "!="})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "name", "attr", "op", "kw" or "end"
    text: str
    pos: int


def _error(message: str, pos: int, field: str) -> ConditionError:
    return ConditionError(message, field=field, position=pos)


def _tokenize(text: str, field: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, size = 0, len(text)
    while pos < size:
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            hint = _CHAR_HINTS.get(char, "")
            raise _error(f"unexpected character {char!r} at position {pos}{hint}", pos, field)
        kind, end = match.lastgroup, match.end()
        if kind == "num" and end < size and text[end] in _NUMBER_TAIL:
            while end < size and text[end] in _NUMBER_TAIL:
                end += 1
            raise _error(f"malformed number {text[pos:end]!r} at position {pos}", pos, field)
        if kind != "ws":
            word = match.group()
            if kind == "name" and word.lower() in KEYWORDS:
                kind = "kw"
            tokens.append(_Token(kind, word, pos))
        pos = end
    tokens.append(_Token("end", "", size))
    return tokens


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


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    """Recursive-descent parser over the token list; collects names and indicator refs."""

    def __init__(
        self,
        tokens: list[_Token],
        names: frozenset[str] | None,
        indicators: frozenset[str],
        field: str,
    ):
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.names = names
        self.indicators = indicators
        self.field = field
        self.used_names: set[str] = set()
        self.refs: dict[tuple[str, tuple[int | float, ...]], None] = {}
        self.keys: set[str] = set()

    # -- helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def fail(self, message: str, pos: int) -> ConditionError:
        return _error(message, pos, self.field)

    def unexpected(self, tok: _Token, expected: str = "") -> ConditionError:
        if tok.kind == "end":
            what = "end of condition"
        elif tok.kind == "num":
            what = f"number '{tok.text}'"
        elif tok.kind == "name":
            what = f"name '{tok.text}'"
        else:
            what = f"'{tok.text}'"
        tail = f" (expected {expected})" if expected else ""
        return self.fail(f"unexpected {what} at position {tok.pos}{tail}", tok.pos)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                f"condition is nested too deeply (more than {MAX_DEPTH} levels) at position {pos}",
                pos,
            )

    def need_number(self, node: Any) -> None:
        if _kind(node) == "bool":
            raise self.fail(
                f"expected a number but found a true/false expression at position {node.pos}",
                node.pos,
            )

    def is_op(self, text: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == text

    # -- grammar
    def parse(self) -> Any:
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.unexpected(self.tok)
        return node

    def logic(self, word: str, operand: Callable[[], Any]) -> Any:
        first = operand()
        operands = [first]
        while self.tok.kind == "kw" and self.tok.text.lower() == word:
            self.advance()
            operands.append(operand())
        return first if len(operands) == 1 else _Logic(first.pos, word, tuple(operands))

    def or_expr(self) -> Any:
        return self.logic("or", self.and_expr)

    def and_expr(self) -> Any:
        return self.logic("and", self.not_expr)

    def not_expr(self) -> Any:
        if self.tok.kind == "kw" and self.tok.text.lower() == "not":
            pos = self.advance().pos
            self.enter(pos)
            operand = self.not_expr()
            self.depth -= 1
            return _Not(pos, operand)
        return self.comparison()

    def comparison(self) -> Any:
        first = self.sum()
        rest = []
        while self.tok.kind == "op" and self.tok.text in _COMPARE_OPS:
            op_tok = self.advance()
            rest.append((op_tok.text, op_tok.pos, self.sum()))
        if not rest:
            return first
        left = first
        for op, _, right in rest:
            kinds = {_kind(left), _kind(right)}
            if op in ("==", "!=") and kinds != {"bool", "num"}:
                left = right
                continue
            for side in (left, right):
                self.need_number(side)
            left = right
        return _Compare(first.pos, first, tuple(rest))

    def chain(self, ops: tuple[str, str], operand: Callable[[], Any]) -> Any:
        first = operand()
        rest = []
        while self.tok.kind == "op" and self.tok.text in ops:
            op_tok = self.advance()
            rest.append((op_tok.text, op_tok.pos, operand()))
        if not rest:
            return first
        self.need_number(first)
        for _, _, node in rest:
            self.need_number(node)
        return _Arith(first.pos, first, tuple(rest))

    def sum(self) -> Any:
        return self.chain(("+", "-"), self.product)

    def product(self) -> Any:
        return self.chain(("*", "/"), self.unary)

    def unary(self) -> Any:
        if self.tok.kind == "op" and self.tok.text in ("-", "+"):
            op_tok = self.advance()
            self.enter(op_tok.pos)
            operand = self.unary()
            self.depth -= 1
            self.need_number(operand)
            return _Neg(op_tok.pos, operand) if op_tok.text == "-" else operand
        return self.primary()

    def primary(self) -> Any:
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            return _Num(tok.pos, float(tok.text))
        if tok.kind == "name":
            self.advance()
            if self.is_op("("):
                return self.call(tok)
            return self.name(tok)
        if self.is_op("("):
            self.advance()
            self.enter(tok.pos)
            node = self.or_expr()
            self.expect_close(tok.pos)
            self.depth -= 1
            return node
        raise self.unexpected(tok, "a number, a name or '('")

    def expect_close(self, open_pos: int) -> None:
        if not self.is_op(")"):
            tok = self.tok
            if tok.kind == "end":
                raise self.fail(
                    f"expected ')' at position {tok.pos} to close '(' at position {open_pos}",
                    tok.pos,
                )
            raise self.unexpected(tok, "')'")
        self.advance()

    def name(self, tok: _Token) -> _Name:
        name = tok.text.lower()
        if self.names is not None and name not in self.names:
            raise self.fail(
                f"unknown name '{tok.text}' at position {tok.pos}{_suggest(name, self.names)}",
                tok.pos,
            )
        self.used_names.add(name)
        return _Name(tok.pos, name)

    def call(self, tok: _Token) -> Any:
        func = tok.text.lower()
        if func in BUILTIN_FUNCTIONS:
            return self.builtin_call(tok, func)
        if func in self.indicators:
            return self.indicator_call(tok, func)
        known = BUILTIN_FUNCTIONS | self.indicators
        raise self.fail(
            f"unknown function '{tok.text}' at position {tok.pos}{_suggest(func, known)}",
            tok.pos,
        )

    def builtin_call(self, tok: _Token, func: str) -> _Call:
        open_pos = self.advance().pos
        self.enter(open_pos)
        args = []
        if not self.is_op(")"):
            args.append(self.or_expr())
            while self.is_op(","):
                self.advance()
                args.append(self.or_expr())
        self.expect_close(open_pos)
        self.depth -= 1
        if func == "abs" and len(args) != 1:
            wanted = "exactly 1 argument"
        elif func in ("min", "max") and len(args) < 2:
            wanted = "at least 2 arguments"
        elif func.startswith("crosses_") and len(args) != 2:
            wanted = "exactly 2 arguments"
        else:
            wanted = ""
        if wanted:
            raise self.fail(
                f"{func}() takes {wanted}, got {len(args)} at position {tok.pos}", tok.pos
            )
        for arg in args:
            self.need_number(arg)
        return _Call(tok.pos, func, tuple(args))

    def indicator_call(self, tok: _Token, func: str) -> _Indicator:
        self.advance()  # "("
        args: list[int | float] = []
        while not self.is_op(")"):
            if args:
                if not self.is_op(","):
                    raise self.unexpected(self.tok, "',' or ')'")
                self.advance()
            arg = self.tok
            if arg.kind != "num":
                raise self.fail(
                    f"arguments of indicator '{func}' must be plain numbers; "
                    f"found {_describe(arg)} at position {arg.pos}",
                    arg.pos,
                )
            self.advance()
            args.append(_plain_number(float(arg.text)))
        self.advance()  # ")"
        attr = ""
        if self.tok.kind == "attr":
            attr = self.advance().text.lower()
        node = _Indicator(tok.pos, func, tuple(args), attr)
        self.refs[(func, node.args)] = None
        self.keys.add(node.key)
        return node


def _describe(tok: _Token) -> str:
    return "end of condition" if tok.kind == "end" else f"'{tok.text}'"


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


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


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Compiler: AST -> closures (env, previous) -> value


_NOT_CONST = object()

_CMP_FUNCS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CMP_BOTH = {
    "<": lambda a, b: lambda e, p: a(e, p) < b(e, p),
    "<=": lambda a, b: lambda e, p: a(e, p) <= b(e, p),
    ">": lambda a, b: lambda e, p: a(e, p) > b(e, p),
    ">=": lambda a, b: lambda e, p: a(e, p) >= b(e, p),
    "==": lambda a, b: lambda e, p: a(e, p) == b(e, p),
    "!=": lambda a, b: lambda e, p: a(e, p) != b(e, p),
}
_CMP_RIGHT_CONST = {
    "<": lambda a, c: lambda e, p: a(e, p) < c,
    "<=": lambda a, c: lambda e, p: a(e, p) <= c,
    ">": lambda a, c: lambda e, p: a(e, p) > c,
    ">=": lambda a, c: lambda e, p: a(e, p) >= c,
    "==": lambda a, c: lambda e, p: a(e, p) == c,
    "!=": lambda a, c: lambda e, p: a(e, p) != c,
}
_ARITH_BOTH = {
    "+": lambda a, b: lambda e, p: a(e, p) + b(e, p),
    "-": lambda a, b: lambda e, p: a(e, p) - b(e, p),
    "*": lambda a, b: lambda e, p: a(e, p) * b(e, p),
}


def _constant(value: Any) -> _Fn:
    def const(env: Env, prev: Env | None) -> Any:
        return value

    return const


def _as_truth(fn: _Fn) -> _Fn:
    return lambda e, p: _truth(fn(e, p))


class _Compiler:
    """Turns AST nodes into closures; ``prev=True`` compiles the previous-value variant."""

    def __init__(self, field: str):
        self.field = field

    def compile(self, node: Any, prev: bool) -> tuple[_Fn, Any]:
        """Return (closure, constant value or _NOT_CONST); constant subtrees are folded."""
        if isinstance(node, _Num):
            return _constant(node.value), node.value
        if isinstance(node, _Name):
            return self.lookup(node.name, node.pos, prev), _NOT_CONST
        if isinstance(node, _Indicator):
            return self.lookup(node.key, node.pos, prev), _NOT_CONST
        children = self.children(node)
        compiled = [self.compile(child, prev) for child in children]
        fn = self.build(node, [f for f, _ in compiled], [c for _, c in compiled], prev)
        if all(c is not _NOT_CONST for _, c in compiled):
            try:
                value = fn({}, None)
            except ConditionError:  # e.g. 1/0: keep it, it raises when evaluated
                return fn, _NOT_CONST
            return _constant(value), value
        return fn, _NOT_CONST

    @staticmethod
    def children(node: Any) -> list[Any]:
        if isinstance(node, (_Neg, _Not)):
            return [node.operand]
        if isinstance(node, (_Arith, _Compare)):
            return [node.first] + [operand for _, _, operand in node.rest]
        if isinstance(node, _Logic):
            return list(node.operands)
        return list(node.args)  # _Call

    def build(self, node: Any, fns: list[_Fn], consts: list[Any], prev: bool) -> _Fn:
        if isinstance(node, _Neg):
            operand = fns[0]
            return lambda e, p: -operand(e, p)
        if isinstance(node, _Not):
            operand = fns[0]
            if _kind(node.operand) == "bool":
                return lambda e, p: not operand(e, p)
            return lambda e, p: not _truth(operand(e, p))
        if isinstance(node, _Arith):
            return self.arith(node, fns)
        if isinstance(node, _Compare):
            return self.compare(node, fns, consts)
        if isinstance(node, _Logic):
            return self.logic(node, fns)
        return self.call(node, fns, prev)

    def lookup(self, key: str, pos: int, prev: bool) -> _Fn:
        field = self.field
        if not prev:

            def current(env: Env, previous: Env | None) -> float:
                try:
                    value = env[key]
                except KeyError:
                    value = _find_ci(env, key, pos, field)
                if type(value) is float:
                    return value
                return _number(value, key, pos, field, True)

            return current

        def before(env: Env, previous: Env | None) -> float:
            try:
                value = env[key]
            except KeyError:
                value = _find_ci(env, key, pos, field)
            if type(value) is not float and _type_kind(type(value)) == "series":
                if _series_length(value, key, pos, field) < 2:
                    raise _NoPreviousError  # the current value was checked before
                return _number(value[-2], key, pos, field, False)
            if previous is None:
                raise _NoPreviousError
            try:
                old = previous[key]
            except KeyError:
                try:
                    old = _find_ci(previous, key, pos, field)
                except ConditionError:
                    raise _NoPreviousError from None
            return _number(old, key, pos, field, True)

        return before

    def divide(self, pos: int) -> Callable[[float, float], float]:
        field = self.field

        def div(left: float, right: float) -> float:
            if right == 0:
                raise _error(f"division by zero at position {pos}", pos, field)
            return left / right

        return div

    def arith(self, node: _Arith, fns: list[_Fn]) -> _Fn:
        steps = []
        for (op, pos, _), fn in zip(node.rest, fns[1:], strict=True):
            func = self.divide(pos) if op == "/" else _ARITH_OPS[op]
            steps.append((op, func, fn))
        first = fns[0]
        if len(steps) == 1:
            op, func, second = steps[0]
            if op in _ARITH_BOTH:
                return _ARITH_BOTH[op](first, second)
            return lambda e, p: func(first(e, p), second(e, p))
        pairs = tuple((func, fn) for _, func, fn in steps)

        def arith_chain(env: Env, previous: Env | None) -> float:
            value = first(env, previous)
            for func, fn in pairs:
                value = func(value, fn(env, previous))
            return value

        return arith_chain

    @staticmethod
    def compare(node: _Compare, fns: list[_Fn], consts: list[Any]) -> _Fn:
        first = fns[0]
        if len(node.rest) == 1:
            op = node.rest[0][0]
            if consts[1] is not _NOT_CONST:
                return _CMP_RIGHT_CONST[op](first, consts[1])
            return _CMP_BOTH[op](first, fns[1])
        pairs = tuple(
            (_CMP_FUNCS[op], fn) for (op, _, _), fn in zip(node.rest, fns[1:], strict=True)
        )

        def compare_chain(env: Env, previous: Env | None) -> bool:
            left = first(env, previous)
            for func, fn in pairs:
                right = fn(env, previous)
                if not func(left, right):
                    return False
                left = right
            return True

        return compare_chain

    @staticmethod
    def logic(node: _Logic, fns: list[_Fn]) -> _Fn:
        wrapped = []
        for operand, fn in zip(node.operands, fns, strict=True):
            if _kind(operand) != "bool":
                fn = _as_truth(fn)
            wrapped.append(fn)
        if len(wrapped) == 2:
            a, b = wrapped
            if node.op == "and":
                return lambda e, p: a(e, p) and b(e, p)
            return lambda e, p: a(e, p) or b(e, p)
        items = tuple(wrapped)
        if node.op == "and":

            def all_of(env: Env, previous: Env | None) -> bool:
                for fn in items:
                    if not fn(env, previous):
                        return False
                return True

            return all_of

        def any_of(env: Env, previous: Env | None) -> bool:
            for fn in items:
                if fn(env, previous):
                    return True
            return False

        return any_of

    def call(self, node: _Call, fns: list[_Fn], prev: bool) -> _Fn:
        func = node.func
        if func == "abs":
            arg = fns[0]
            return lambda e, p: abs(arg(e, p))
        if func in ("min", "max"):
            pick = min if func == "min" else max
            if len(fns) == 2:
                a, b = fns
                return lambda e, p: pick(a(e, p), b(e, p))
            items = tuple(fns)
            return lambda e, p: pick([fn(e, p) for fn in items])
        assert not prev, "a crossing cannot be an argument of a crossing (type-checked)"
        a, b = fns
        before_a = self.compile(node.args[0], True)[0]
        before_b = self.compile(node.args[1], True)[0]
        if func == "crosses_above":

            def crosses_above(env: Env, previous: Env | None) -> bool:
                if not a(env, previous) > b(env, previous):
                    return False
                try:
                    return before_a(env, previous) <= before_b(env, previous)
                except _NoPreviousError:
                    return False

            return crosses_above

        def crosses_below(env: Env, previous: Env | None) -> bool:
            if not a(env, previous) < b(env, previous):
                return False
            try:
                return before_a(env, previous) >= before_b(env, previous)
            except _NoPreviousError:
                return False

        return crosses_below


_ARITH_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


# ---------------------------------------------------------------------------------------------
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
