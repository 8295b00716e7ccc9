"""Tests for the safe condition language (agentic_app.domain.conditions)."""

from __future__ import annotations

import ast
import itertools
import math
import operator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentic_app.domain import conditions
from agentic_app.domain.conditions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Condition,
    flatten_env,
    indicator_key,
    parse,
    validate,
)
from agentic_app.domain.errors import ConditionError, FatalError

INDICATORS = {"rsi", "sma", "ema", "macd", "bbands", "atr"}
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEAVY = settings(FAST, max_examples=150)


def value(text: str, **env: object) -> bool | float:
    """Parse ``text`` and evaluate it on keyword arguments."""
    return parse(text, indicator_functions=INDICATORS).evaluate(env)


def error_of(text: str, **kwargs: object) -> ConditionError:
    """The ConditionError raised by parsing ``text``."""
    with pytest.raises(ConditionError) as caught:
        parse(text, **kwargs)
    return caught.value


# --- operators, precedence, associativity ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20.0),
        ("10 - 4 - 3", 3.0),
        ("10 - (4 - 3)", 9.0),
        ("64 / 4 / 2", 8.0),
        ("64 / (4 / 2)", 32.0),
        ("2 * 3 + 4 * 5", 26.0),
        ("-2 * 3", -6.0),
        ("-(2 + 3)", -5.0),
        ("- -4", 4.0),
        ("+4 - +1", 3.0),
        ("2 - -3", 5.0),
        ("1 + 2 < 4", True),
        ("1 + 2 > 4", False),
        ("1 < 2 and 3 < 2 or 1 < 2", True),
        ("1 < 2 or 3 < 2 and 3 < 2", True),
        ("not 1 < 2 or 1 < 2", True),
        ("not (1 < 2 or 1 < 2)", False),
        ("not not 1 < 2", True),
    ],
)
def test_precedence_and_associativity(text: str, expected: object) -> None:
    """Operators bind as documented: * / over + -, left-associative; not > and > or."""
    result = value(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + b", 9.0),
        ("a - b", 3.0),
        ("a * b", 18.0),
        ("a / b", 2.0),
        ("a < b", False),
        ("a <= 6", True),
        ("a > b", True),
        ("a >= 7", False),
        ("a == 6", True),
        ("a != 6", False),
        ("a > 1 and b > 5", False),
        ("a > 1 or b > 5", True),
        ("not a > 1", False),
        ("abs(b - a)", 3.0),
        ("min(a, b)", 3.0),
        ("max(a, b, 10)", 10.0),
        ("min(a, b, -1)", -1.0),
    ],
)
def test_each_operator(text: str, expected: object) -> None:
    """Every operator and builtin function computes its documented result."""
    assert value(text, a=6.0, b=3.0) == expected


def test_comparison_chains_work_like_python() -> None:
    """``1 < x < 3`` means ``1 < x and x < 3``."""
    assert value("1 < x < 3", x=2.0) is True
    assert value("1 < x < 3", x=3.0) is False
    assert value("1 < x <= 3 != 4", x=3.0) is True
    assert value("5 > x > 1", x=0.5) is False


def test_and_or_short_circuit() -> None:
    """The right side of and/or is not evaluated when the left side decides."""
    assert value("x > 1 and 1 / 0 > 1", x=0.0) is False
    assert value("x < 1 or missing > 1", x=0.0) is True
    with pytest.raises(ConditionError):
        value("x < 1 and 1 / 0 > 1", x=0.0)


def test_logic_results_are_bools_and_numbers_have_truth() -> None:
    """and/or/not give bools; a number is true iff non-zero and not NaN."""
    assert value("x and y", x=2.0, y=3.0) is True
    assert value("x or y", x=0.0, y=0.0) is False
    assert value("not x", x=0.0) is True
    cond = parse("x")
    assert cond.evaluate({"x": 2.5}) == 2.5
    assert cond.test({"x": 2.5}) is True
    assert cond.test({"x": 0.0}) is False
    assert cond.test({"x": math.nan}) is False
    assert parse("x and 1 > 0").evaluate({"x": math.nan}) is False


def test_nan_comparisons_are_false() -> None:
    """A NaN indicator value (TA-Lib warm-up) makes comparisons false, never raises."""
    assert value("rsi(14) < 30", **{"rsi(14)": [math.nan]}) is False
    assert value("rsi(14) > 30", **{"rsi(14)": [math.nan]}) is False


# --- names ----------------------------------------------------------------------------------


def test_identifiers_and_keywords_are_case_insensitive() -> None:
    """RSI, Rsi and rsi are one name; AND/Or/NOT are keywords; functions too."""
    cond = parse("RSI < 30 AND Rsi > 10 Or NOT rsi != 50 and ABS(rsi) > 0")
    assert cond.names == frozenset({"rsi"})
    assert cond.evaluate({"rsi": 20.0}) is True
    assert cond.evaluate({"rsi": 35.0}) is False
    assert cond.evaluate({"rsi": 50.0}) is True


def test_env_keys_are_matched_case_insensitively() -> None:
    """An env written with upper-case keys still answers lower-case names."""
    assert parse("rsi < 30").evaluate({"RSI": 20.0}) is True


def test_dotted_names_are_single_names() -> None:
    """``macd.signal`` and ``trigger.price`` are names of their own."""
    cond = parse("MACD.macd > macd.signal and trigger.price > 1.1")
    assert cond.names == frozenset({"macd.macd", "macd.signal", "trigger.price"})
    env = {"macd.macd": 0.5, "macd.signal": 0.2, "trigger.price": 1.2}
    assert cond.evaluate(env) is True
    assert cond.evaluate({**env, "macd.signal": 0.7}) is False


def test_names_restriction_rejects_unknown_names_at_their_position() -> None:
    """With ``names`` given, a name outside it is an error pointing at the name."""
    err = error_of("rsii < 30", names=["RSI", "price"])
    assert err.position == 0
    assert err.message.startswith("unknown name 'rsii' at position 0")
    assert "did you mean 'rsi'" in err.message
    err = error_of("price > 1 and volume > 5", names={"price"})
    assert err.position == 14
    assert parse("PRICE > 1", names={"price"}).names == frozenset({"price"})


def test_source_names_and_canonical_form() -> None:
    """A condition keeps its text, its lower-case names and a normalized form."""
    cond = parse("RSI(14)   <30 and (A+B)*c>=1.50", indicator_functions=INDICATORS)
    assert cond.source == "RSI(14)   <30 and (A+B)*c>=1.50"
    assert cond.names == frozenset({"a", "b", "c"})
    assert str(cond) == cond.canonical() == "rsi(14) < 30 and (a + b) * c >= 1.5"
    assert parse("a-(b-c)").canonical() == "a - (b - c)"
    assert parse("(a-b)-c").canonical() == "a - b - c"
    assert parse("not(a<b)").canonical() == "not a < b"
    assert parse("(a < b) == (c < d)").canonical() == "(a < b) == (c < d)"
    assert parse("A+B") == parse("a + b")
    assert hash(parse("A+B")) == hash(parse("a+b"))


# --- series and crossings -------------------------------------------------------------------


def test_series_use_their_last_element() -> None:
    """A list, tuple or numpy array is a series whose current value is its last element."""
    assert value("rsi < 30", rsi=[50.0, 40.0, 25.0]) is True
    assert value("rsi < 30", rsi=(25.0, 40.0)) is False
    assert value("rsi + 1", rsi=np.array([1.0, 2.0, 3.0])) == 4.0
    assert value("x * 2", x=np.float64(1.5)) == 3.0
    assert value("x * 2", x=3) == 6.0


def test_crossings_with_series() -> None:
    """crosses_above is prev(a) <= prev(b) and cur(a) > cur(b); crosses_below mirrors it."""
    up = {"a": [1.0, 2.0], "b": [1.5, 1.5]}
    assert value("crosses_above(a, b)", **up) is True
    assert value("crosses_below(a, b)", **up) is False
    assert value("crosses_below(b, a)", **up) is True
    assert value("crosses_above(a, b)", a=[1.5, 2.0], b=[1.5, 1.5]) is True  # from touching
    assert value("crosses_above(a, b)", a=[1.6, 2.0], b=[1.5, 1.5]) is False  # already above
    assert value("crosses_above(a, b)", a=[1.0, 1.5], b=[1.5, 1.5]) is False  # only touching
    down = {"sma(50)": np.array([3.0, 2.0]), "sma(200)": np.array([2.5, 2.5])}
    assert value("crosses_below(sma(50), sma(200))", **down) is True


def test_crossings_with_previous_mapping() -> None:
    """For scalars the previous value comes from the ``previous`` mapping (same keys)."""
    cond = parse("crosses_above(price, 1.10)")
    assert cond.evaluate({"price": 1.12}, {"price": 1.05}) is True
    assert cond.evaluate({"price": 1.12}, {"price": 1.11}) is False
    assert cond.evaluate({"price": 1.05}, {"price": 1.12}) is False
    below = parse("crosses_below(price, 1.10)")
    assert below.evaluate({"price": 1.05}, {"price": 1.12}) is True


def test_crossing_of_expressions_and_mixed_sources() -> None:
    """Crossing arguments may be expressions mixing series and scalars with previous values."""
    cond = parse("crosses_above(macd.macd - macd.signal, 0)")
    assert cond.evaluate({"macd.macd": [0.1, 0.5], "macd.signal": [0.2, 0.3]}) is True
    assert cond.evaluate({"macd.macd": [0.3, 0.5], "macd.signal": [0.2, 0.3]}) is False
    mixed = parse("crosses_above(price, sma(20))", indicator_functions=INDICATORS)
    env = {"price": 10.5, "sma(20)": [10.0, 10.2]}
    assert mixed.evaluate(env, {"price": 9.9}) is True
    assert mixed.evaluate(env, {"price": 10.3}) is False


def test_crossing_without_previous_value_is_false() -> None:
    """With no previous value (no mapping, missing key, one-element series) nothing crosses."""
    cond = parse("crosses_above(price, 1.10)")
    assert cond.evaluate({"price": 1.2}) is False
    assert cond.evaluate({"price": 1.2}, {}) is False
    assert cond.evaluate({"price": [1.2]}) is False
    assert parse("crosses_above(price, 1.1) or price > 1").evaluate({"price": 1.2}) is True


def test_crossing_cannot_take_a_crossing() -> None:
    """Arguments of a crossing must be numbers, so nested crossings are rejected."""
    err = error_of("crosses_above(crosses_above(a, b), 1)")
    assert err.position == 14


# --- indicators -----------------------------------------------------------------------------


def test_indicator_calls_read_canonical_keys() -> None:
    """``RSI(14)`` reads env key ``rsi(14)``; refs list (name, args) in order of first use."""
    cond = parse(
        "RSI(14.0) < 30 and sma(50) > sma(200) and bbands(20, 2.5).UPPER > price and rsi(14) > 0",
        indicator_functions=["RSI", "sma", "bbands"],
    )
    assert cond.indicator_refs == (
        ("rsi", (14,)),
        ("sma", (50,)),
        ("sma", (200,)),
        ("bbands", (20, 2.5)),
    )
    assert isinstance(cond.indicator_refs[0][1][0], int)
    assert cond.indicator_keys == frozenset(
        {"rsi(14)", "sma(50)", "sma(200)", "bbands(20,2.5).upper"}
    )
    assert cond.names == frozenset({"price"})
    env = {"rsi(14)": 20.0, "sma(50)": 2.0, "sma(200)": 1.0, "bbands(20,2.5).upper": 5.0}
    assert cond.evaluate({**env, "price": 4.0}) is True
    assert cond.evaluate({**env, "price": 6.0}) is False


def test_indicator_key_formatting() -> None:
    """Keys are lower-case, comma-joined without spaces, integral numbers without '.0'."""
    assert indicator_key("RSI", (14,)) == "rsi(14)"
    assert indicator_key("bbands", (20, 2.0)) == "bbands(20,2)"
    assert indicator_key("x", [0.5, 1e20]) == "x(0.5,1e+20)"
    assert indicator_key("macd", ()) == "macd()"


def test_indicator_arguments_must_be_number_literals() -> None:
    """Indicator arguments are plain numbers; anything else is a positioned error."""
    assert error_of("rsi(x) < 30", indicator_functions=INDICATORS).position == 4
    assert error_of("rsi(-14) < 30", indicator_functions=INDICATORS).position == 4
    assert error_of("rsi(14,) < 30", indicator_functions=INDICATORS).position == 7
    assert error_of("rsi(14 15)", indicator_functions=INDICATORS).position == 7
    assert error_of("rsi(14", indicator_functions=INDICATORS).position == 6


def test_unknown_functions_are_errors() -> None:
    """A call to a function that is neither builtin nor an indicator is rejected."""
    err = error_of("foo(1) > 2")
    assert err.position == 0
    assert err.message.startswith("unknown function 'foo' at position 0")
    err = error_of("price > 1 and rsi(14) < 30")  # rsi not declared as indicator
    assert err.position == 14
    assert "did you mean 'rsi'" in error_of("rsii(14)", indicator_functions=INDICATORS).message
    assert error_of("macd.signal(3)", indicator_functions=INDICATORS).position == 0


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("(a + b))", 7, "unexpected ')'"),
        ("a +", 3, "unexpected end of condition"),
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("a $ b", 2, "unexpected character '$'"),
        ("price = 1", 6, "use '=='"),
        ("a && b", 2, "use 'and'"),
        ("a || b", 2, "use 'or'"),
        ("1.2.3 > a", 0, "malformed number '1.2.3'"),
        ("a > 14abc", 4, "malformed number '14abc'"),
        ("(a + b", 6, "expected ')'"),
        ("abs(1, )", 7, "unexpected ')'"),
        ("abs(1 2)", 6, "unexpected number '2'"),
        ("min(1)", 0, "at least 2 arguments"),
        ("abs()", 0, "exactly 1 argument"),
        ("crosses_above(a)", 0, "exactly 2 arguments"),
        ("a b", 2, "unexpected name 'b'"),
        ("a and or b", 6, "unexpected 'or'"),
        ("not", 3, "unexpected end of condition"),
        (") a", 0, "unexpected ')'"),
        ("a < < b", 4, "unexpected '<'"),
        ("(a < b) + 1", 1, "true/false"),
        ("1 + (a < b)", 5, "true/false"),
        ("abs(a > b)", 4, "true/false"),
        ("-(a > b)", 2, "true/false"),
        ("1 == (b < c)", 6, "true/false"),
        ("a .b", 2, "unexpected '.b'"),
        ("price > 1.10 )", 13, "unexpected ')'"),
        ("a ** 2", 3, "unexpected '*'"),
        ("x[0] > 1", 1, "unexpected character '['"),
        ("a >", 3, "unexpected end of condition"),
        ("and", 0, "unexpected 'and'"),
        ("lambda: 1", 6, "unexpected character ':'"),
    ],
)
def test_malformed_inputs_report_exact_positions(text: str, position: int, fragment: str) -> None:
    """Each malformed input raises ConditionError at the 0-based position of the problem."""
    err = error_of(text, indicator_functions=INDICATORS)
    assert err.position == position
    assert fragment in err.message
    assert f"at position {position}" in err.message
    assert err.field == "condition"
    assert isinstance(err, FatalError)


def test_error_field_can_be_chosen_and_validate_raises() -> None:
    """validate() returns None for good text and raises with the chosen field for bad text."""
    assert validate("rsi < 30", names={"rsi"}) is None
    with pytest.raises(ConditionError) as caught:
        validate("x +", field="params.condition")
    assert caught.value.field == "params.condition"
    assert caught.value.to_dict()["position"] == 3
    with pytest.raises(ConditionError):
        validate("rsi(14) < 30", names={"rsi"})
    assert validate("rsi(14) < 30", names=set(), indicator_functions={"rsi"}) is None


def test_non_text_input_is_a_condition_error() -> None:
    """Passing something that is not a string is reported, not crashed on."""
    assert error_of(None).position == 0  # type: ignore[arg-type]


def test_length_limit() -> None:
    """Text longer than MAX_LENGTH is rejected; exactly MAX_LENGTH characters is fine."""
    body = "1+" * ((MAX_LENGTH - 1) // 2)
    longest = body + "1" * (MAX_LENGTH - len(body))
    assert len(longest) == MAX_LENGTH
    terms = longest.split("+")
    assert value(longest) == sum(float(t) for t in terms)
    err = error_of(longest + "1")
    assert err.position == MAX_LENGTH
    assert "longer than" in err.message


def test_depth_limit() -> None:
    """Nesting deeper than MAX_DEPTH raises ConditionError (not RecursionError)."""
    assert value("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH, x=2.0) == 2.0
    assert error_of("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)).position == MAX_DEPTH
    assert error_of("-" * (MAX_DEPTH + 1) + "1").position == MAX_DEPTH
    assert error_of("not " * (MAX_DEPTH + 1) + "x").position == 4 * MAX_DEPTH
    assert error_of("abs(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1)).position == 3 + 4 * 50
    assert "nested too deeply" in error_of("(" * 200 + "1" + ")" * 200).message


def test_deepest_allowed_mixed_nesting_evaluates() -> None:
    """Expressions at the depth limit mixing every level evaluate without RecursionError."""
    numeric, expected = "a", 2.0
    for _ in range(MAX_DEPTH // 2):
        numeric = f"a + a * -abs({numeric})"
        expected = 2.0 + 2.0 * -abs(expected)
    assert value(numeric, a=2.0) == expected
    logic = "a > 1"
    for _ in range(MAX_DEPTH // 2):
        logic = f"not (a < 1 or a > 5 and {logic})"
    result = value(logic, a=2.0)
    truth = True
    for _ in range(MAX_DEPTH // 2):
        truth = not (False or (False and truth))
    assert result is truth


def test_evaluation_errors_name_the_problem_and_position() -> None:
    """Missing names, non-numbers, empty series and division by zero are positioned errors."""
    with pytest.raises(ConditionError) as caught:
        parse("a + missing > 1").evaluate({"a": 1.0})
    assert caught.value.position == 4
    assert "'missing'" in caught.value.message
    with pytest.raises(ConditionError) as caught:
        parse("rsi(14) < 30", indicator_functions=INDICATORS).evaluate({})
    assert "'rsi(14)'" in caught.value.message
    assert caught.value.position == 0
    for bad in ("abc", None, {"x": 1}, [], ["abc"], [[1.0]]):
        with pytest.raises(ConditionError) as caught:
            parse("1 + a > 1").evaluate({"a": bad})
        assert caught.value.position == 4


@pytest.mark.parametrize(
    ("text", "env", "position"),
    [
        ("a / b", {"a": 1.0, "b": 0.0}, 2),
        ("a / (b - 1)", {"a": 1.0, "b": 1.0}, 2),
        ("a / b / c", {"a": 1.0, "b": 1.0, "c": 0.0}, 6),
        ("1 / 0 > a", {"a": 1.0}, 2),
        ("crosses_above(1 / a, 1)", {"a": [0.0, 0.0]}, 16),
    ],
)
def test_division_by_zero_points_at_the_slash(text: str, env: dict, position: int) -> None:
    """Dividing by zero raises ConditionError at the position of that '/'."""
    cond = parse(text)
    with pytest.raises(ConditionError) as caught:
        cond.evaluate(env)
    assert caught.value.position == position
    assert "division by zero" in caught.value.message


def test_previous_value_division_by_zero_is_reported() -> None:
    """A division by zero met while computing a previous value is still an error."""
    cond = parse("crosses_above(1 / a, 1)")
    with pytest.raises(ConditionError) as caught:
        cond.evaluate({"a": [0.0, 0.5]})
    assert caught.value.position == 16


# --- safety ---------------------------------------------------------------------------------

INJECTIONS = [
    "__import__('os').system('touch {path}')",
    '__import__("os").system("touch {path}")',
    "open('{path}', 'w').write('x')",
    "exec(\"open('{path}','w')\")",
    "eval('1')",
    "().__class__.__bases__[0].__subclasses__()",
    "price > 1 or __import__('os').system('touch {path}')",
    "lambda: 1",
    "[x for x in ()]",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_code_injection_is_rejected_and_not_executed(template: str, tmp_path: Path) -> None:
    """Python code in a condition is a ConditionError and has no side effect."""
    target = tmp_path / "pwned"
    text = template.format(path=target)
    with pytest.raises(ConditionError) as caught:
        parse(text).evaluate({"price": 2.0, "x": 1.0})
    assert 0 <= caught.value.position <= len(text)
    assert not target.exists()


def test_module_never_calls_eval_exec_or_compile() -> None:
    """The implementation (every module of the package) contains no call to eval, exec,
    compile, __import__ or literal_eval."""
    files = sorted(Path(conditions.__file__).parent.glob("*.py"))
    assert len(files) > 1
    forbidden = {"eval", "exec", "compile", "__import__", "literal_eval"}
    nodes = [node for f in files for node in ast.walk(ast.parse(f.read_text()))]
    for node in nodes:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in forbidden
            if isinstance(func, ast.Attribute):
                assert func.attr not in {"literal_eval", "eval", "exec"}
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = {alias.name for alias in node.names}
            assert "ast" not in names and getattr(node, "module", None) != "ast"


LANGUAGE_TOKENS = [
    "price", "RSI", "rsi", "macd.signal", "trigger.price", "_x", "and", "or", "not", "AND",
    "(", ")", ",", "+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "=", "!",
    "0", "1", "1.5", ".5", "1e3", "2E-2", "1.", "abs", "min", "max", "crosses_above",
    "crosses_below", "sma", "rsi(14)", ".upper", "foo", "__import__", "'os'", ".", " ",
]  # fmt: skip


def check_never_crashes(text: str) -> None:
    """Parse and evaluate ``text``; the only failure allowed is a positioned ConditionError."""
    try:
        cond = parse(text, indicator_functions={"rsi", "sma"})
        env: dict[str, object] = {name: 1.0 for name in cond.names}
        env.update({key: [1.0, 2.0] for key in cond.indicator_keys})
        result = cond.evaluate(env, {name: 0.5 for name in cond.names})
        assert type(result) in (bool, float)
        assert isinstance(cond.test(env), bool)
        assert isinstance(cond.canonical(), str)
    except ConditionError as err:
        assert type(err.position) is int
        assert 0 <= err.position <= len(text)
        assert err.message


@FAST
@given(st.text(max_size=80))
def test_random_text_only_raises_condition_error(text: str) -> None:
    """Arbitrary text yields a result or a ConditionError with a position inside the text."""
    check_never_crashes(text)


@FAST
@given(st.lists(st.sampled_from(LANGUAGE_TOKENS), max_size=30), st.sampled_from(["", " "]))
def test_token_soup_only_raises_condition_error(tokens: list[str], sep: str) -> None:
    """Strings built from the language's own tokens never crash or execute anything."""
    check_never_crashes(sep.join(tokens))


# --- reference properties -------------------------------------------------------------------

VARIABLES = ["a", "B", "price", "Macd.Signal", "x_1"]


class _DivisionByZero(Exception):
    """Raised by the reference evaluator; carries the node that divided by zero."""


numbers_ = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
leaves = st.one_of(
    numbers_.map(lambda v: ("num", v)),
    st.integers(0, 9).map(lambda v: ("num", float(v))),
    st.sampled_from(VARIABLES).map(lambda n: ("var", n)),
)


def arithmetic(max_leaves: int) -> st.SearchStrategy[tuple]:
    """Random arithmetic trees: numbers and names under + - * /, unary -, abs, min, max."""
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.tuples(st.just("bin"), st.sampled_from("+-*/"), kids, kids),
            st.tuples(st.just("neg"), kids),
            st.tuples(st.just("abs"), kids),
            st.tuples(st.sampled_from(["min", "max"]), st.lists(kids, min_size=2, max_size=3)),
        ),
        max_leaves=max_leaves,
    )


arith_trees = arithmetic(10)
small_arith_trees = arithmetic(3)
comparisons = st.tuples(
    st.just("cmp"),
    small_arith_trees,
    st.lists(
        st.tuples(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), small_arith_trees),
        min_size=1,
        max_size=2,
    ),
)
bool_trees = st.recursive(
    comparisons,
    lambda kids: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3)),
        st.tuples(st.just("not"), kids),
    ),
    max_leaves=5,
)
env_values = st.fixed_dictionaries(
    {
        name.lower(): st.one_of(
            numbers_,
            st.integers(-50, 50),
            st.lists(numbers_, min_size=1, max_size=3),
        )
        for name in VARIABLES
    }
)
CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
CMP.update({"==": operator.eq, "!=": operator.ne})


class Renderer:
    """Writes a tree as condition text, remembering where each '/' lands."""

    def __init__(self, sep: str):
        self.sep = sep
        self.parts: list[str] = []
        self.length = 0
        self.slash_at: dict[int, int] = {}

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def render(self, node: tuple) -> str:
        self.write(node)
        return "".join(self.parts)

    def write(self, node: tuple) -> None:
        kind = node[0]
        if kind == "num":
            self.put(repr(node[1]))
        elif kind == "var":
            self.put(node[1])
        elif kind == "bin":
            self.put("(")
            self.write(node[2])
            self.put(self.sep)
            if node[1] == "/":
                self.slash_at[id(node)] = self.length
            self.put(node[1] + self.sep)
            self.write(node[3])
            self.put(")")
        elif kind == "neg":
            self.put("-(")
            self.write(node[1])
            self.put(")")
        elif kind in ("abs", "min", "max", "and", "or"):
            operands = [node[1]] if kind == "abs" else node[1]
            glue = f" {kind} " if kind in ("and", "or") else "," + self.sep
            self.put("(" if kind in ("and", "or") else kind + "(")
            for i, operand in enumerate(operands):
                if i:
                    self.put(glue)
                self.write(operand)
            self.put(")")
        elif kind == "not":
            self.put("not (")
            self.write(node[1])
            self.put(")")
        else:  # cmp chain
            self.write(node[1])
            for op, operand in node[2]:
                self.put(f"{self.sep}{op}{self.sep}")
                self.write(operand)


def current(raw: object) -> float:
    """Reference: current value of an env entry (last element of a series)."""
    return float(raw[-1]) if isinstance(raw, list) else float(raw)


def reference(node: tuple, env: dict) -> object:
    """Evaluate a generated tree directly (independently of the parser)."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "var":
        return current(env[node[1].lower()])
    if kind == "bin":
        left, right = reference(node[2], env), reference(node[3], env)
        if node[1] == "/":
            if right == 0:
                raise _DivisionByZero(node)
            return left / right
        return {"+": operator.add, "-": operator.sub, "*": operator.mul}[node[1]](left, right)
    if kind == "neg":
        return -reference(node[1], env)
    if kind == "abs":
        return abs(reference(node[1], env))
    if kind in ("min", "max"):
        values = [reference(child, env) for child in node[1]]
        return min(values) if kind == "min" else max(values)
    if kind == "and":
        return all(reference(child, env) for child in node[1])
    if kind == "or":
        return any(reference(child, env) for child in node[1])
    if kind == "not":
        return not reference(node[1], env)
    left = reference(node[1], env)
    for op, operand in node[2]:
        right = reference(operand, env)
        if not CMP[op](left, right):
            return False
        left = right
    return True


def same(a: object, b: object) -> bool:
    """Equal, treating NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def check_against_reference(tree: tuple, env: dict, sep: str) -> None:
    """The parsed condition agrees with the reference value or the reference '/' position."""
    renderer = Renderer(sep)
    text = renderer.render(tree)
    if len(text) > MAX_LENGTH:
        return
    cond = parse(text)
    try:
        expected = reference(tree, env)
    except _DivisionByZero as zero:
        with pytest.raises(ConditionError) as caught:
            cond.evaluate(env)
        assert caught.value.position == renderer.slash_at[id(zero.args[0])]
        return
    assert same(cond.evaluate(env), expected)
    again = parse(cond.canonical())
    assert again.canonical() == cond.canonical()
    assert same(again.evaluate(env), expected)


@FAST
@given(arith_trees, env_values, st.sampled_from(["", " "]))
def test_arithmetic_matches_reference(tree: tuple, env: dict, sep: str) -> None:
    """Generated arithmetic gives exactly the value computed from its tree, or the right '/'."""
    check_against_reference(tree, env, sep)


@HEAVY
@given(bool_trees, env_values, st.sampled_from(["", " "]))
def test_logic_matches_reference(tree: tuple, env: dict, sep: str) -> None:
    """Generated comparisons and and/or/not give the truth computed from their tree."""
    check_against_reference(tree, env, sep)


# --- price bands ----------------------------------------------------------------------------

BAND_CONSTANTS = [-1.0, 0.0, 0.5, 1.05, 1.1, 1.15, 2.0]
band_leaves = st.one_of(
    st.tuples(
        st.just("cmp"),
        st.just(("var", "price")),
        st.lists(
            st.tuples(
                st.sampled_from(list(CMP)),
                st.sampled_from(BAND_CONSTANTS).map(lambda c: ("num", c)),
            ),
            min_size=1,
            max_size=1,
        ),
    ),
    st.tuples(
        st.just("cmp"),
        st.sampled_from(BAND_CONSTANTS).map(lambda c: ("num", c)),
        st.tuples(
            st.tuples(st.sampled_from(["<", "<="]), st.just(("var", "price"))),
            st.tuples(
                st.sampled_from(["<", "<="]),
                st.sampled_from(BAND_CONSTANTS).map(lambda c: ("num", c)),
            ),
        ).map(list),
    ),
)
band_trees = st.recursive(
    band_leaves,
    lambda kids: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3)),
        st.tuples(st.just("not"), kids),
    ),
    max_leaves=5,
)


def in_bands(bands: list[tuple[float, float, bool, bool]], x: float) -> bool:
    """Membership of ``x`` in the documented band format."""
    return any(
        lo < x < hi or (x == lo and lo_closed) or (x == hi and hi_closed)
        for lo, hi, lo_closed, hi_closed in bands
    )


PROBES = sorted(
    {c for c in BAND_CONSTANTS}
    | {math.nextafter(c, math.inf) for c in BAND_CONSTANTS}
    | {math.nextafter(c, -math.inf) for c in BAND_CONSTANTS}
    | {-1e9, 1e9, 0.75, 1.075, 1.125, 1.5, 3.0, -0.5}
)


@HEAVY
@given(band_trees, st.lists(numbers_, max_size=5))
def test_price_bands_agree_with_evaluation(tree: tuple, extra: list[float]) -> None:
    """as_price_bands() describes exactly the finite prices where the condition is true."""
    cond = parse(Renderer(" ").render(tree))
    bands = cond.as_price_bands()
    assert bands is not None
    for (_, hi, _, hi_closed), (lo, _, lo_closed, _) in itertools.pairwise(bands):
        assert hi < lo or (hi == lo and not (hi_closed or lo_closed))
    for x in [*PROBES, *extra]:
        assert in_bands(bands, x) == cond.test({"price": x}), x


def test_price_bands_examples_and_unsupported_shapes() -> None:
    """Typical price conditions give the expected intervals; other shapes give None."""
    inf = math.inf
    assert parse("price > 1.10").as_price_bands() == [(1.1, inf, False, False)]
    assert parse("price < 1.05 or price > 1.15").as_price_bands() == [
        (-inf, 1.05, False, False),
        (1.15, inf, False, False),
    ]
    assert parse("1.05 <= PRICE < 1.1 + 0.05").as_price_bands() == [(1.05, 1.1 + 0.05, True, False)]
    assert parse("price != 2").as_price_bands() == [(-inf, 2, False, False), (2, inf, False, False)]
    assert parse("price > 3 and price < 1").as_price_bands() == []
    assert parse("trigger.price >= 2").as_price_bands("Trigger.Price") == [(2, inf, True, False)]
    for text in ("price * 2 > 3", "price > rsi", "crosses_above(price, 1)", "price > 1 / 0"):
        assert parse(text).as_price_bands() is None
    assert parse("sma(5) > 1", indicator_functions=INDICATORS).as_price_bands() is None


# --- helpers --------------------------------------------------------------------------------


def test_flatten_env_builds_dotted_lower_case_keys() -> None:
    """Nested outputs flatten to the dotted names conditions use."""
    flat = flatten_env({"MACD": {"macd": [1.0], "Signal": [0.5]}, "trigger": {"price": 1.2}})
    assert flat == {"macd.macd": [1.0], "macd.signal": [0.5], "trigger.price": 1.2}
    assert parse("macd.macd > macd.signal and trigger.price > 1").evaluate(flat) is True


def test_condition_objects_are_reusable() -> None:
    """One compiled Condition evaluates many environments without re-parsing."""
    cond = parse("price > 1.10")
    assert isinstance(cond, Condition)
    results = [cond.evaluate({"price": p}) for p in (1.0, 1.2, 1.1, 1.11)]
    assert results == [False, True, False, True]
    assert repr(cond) == "Condition('price > 1.10')"
