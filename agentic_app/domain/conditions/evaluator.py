"""Evaluator of the condition language: the AST compiled into nested closures.

Each closure takes ``(env, previous)``; constant subtrees are folded at compile time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from agentic_app.domain.conditions.syntax import (
    _Arith,
    _Call,
    _Compare,
    _error,
    _Indicator,
    _kind,
    _Logic,
    _Name,
    _Neg,
    _Not,
    _Num,
)
from agentic_app.domain.conditions.values import (
    Env,
    _find_ci,
    _Fn,
    _NoPreviousError,
    _number,
    _series_length,
    _truth,
    _type_kind,
)
from agentic_app.domain.errors import ConditionError

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

