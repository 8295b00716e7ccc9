"""Recursive-descent parser of the condition language: tokens -> type-checked AST."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from typing import Any

from agentic_app.domain.conditions.lexer import _COMPARE_OPS, _Token
from agentic_app.domain.conditions.syntax import (
    BUILTIN_FUNCTIONS,
    MAX_DEPTH,
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
    _plain_number,
)
from agentic_app.domain.errors import ConditionError

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

