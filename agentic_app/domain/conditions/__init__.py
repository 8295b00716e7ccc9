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

from agentic_app.domain.conditions.condition import Condition, flatten_env, parse, validate
from agentic_app.domain.conditions.syntax import (
    BUILTIN_FUNCTIONS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_LENGTH,
    indicator_key,
)

__all__ = [
    "BUILTIN_FUNCTIONS",
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Condition",
    "flatten_env",
    "indicator_key",
    "parse",
    "validate",
]
