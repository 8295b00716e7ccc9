"""Tokenizer of the condition language: text -> a list of tokens ending with an "end" token."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from agentic_app.domain.conditions.syntax import KEYWORDS, _error

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

