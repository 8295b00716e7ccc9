"""Tests of fixed-fractional position sizing (agentic_app.domain.sizing)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.sizing import position_size, round_down_to_step


def case(name: str, quantity: str, capped: bool, words: str, **kwargs):
    """One sizing case: kwargs of position_size and the expected quantity, cap and reason."""
    return pytest.param(kwargs, quantity, capped, words, id=name)


CASES = [
    case(
        "stock whole shares",
        "33",
        False,
        "rounded down",
        equity=10_000,
        risk_pct=1,
        entry_price=50,
        stop_distance=3,
        lot_step=1,
    ),
    case(
        "fx lots with contract size",
        "1.66",
        False,
        "lot step 0.01",
        equity=100_000,
        risk_pct=0.5,
        entry_price=1.1,
        stop_distance=0.0030,
        lot_step=0.01,
        contract_size=100_000,
    ),
    case(
        "btc 0.001 step",
        "0.133",
        False,
        "rounded down",
        equity=10_000,
        risk_pct=1,
        entry_price=60_000,
        stop_distance=750,
        lot_step=0.001,
    ),
    case(
        "atr stop",
        "80",
        False,
        "2 x ATR 2.5",
        equity=20_000,
        risk_pct=2,
        entry_price=100,
        atr=2.5,
        atr_multiple=2,
        lot_step=1,
    ),
    case(
        "capped by max_position",
        "1000",
        True,
        "capped at max_position 1000",
        equity=100_000,
        risk_pct=2,
        entry_price=10,
        stop_distance=0.5,
        lot_step=1,
        max_position=1000,
    ),
    case(
        "cap itself rounded down",
        "0.25",
        True,
        "capped",
        equity=10_000,
        risk_pct=1,
        entry_price=60_000,
        stop_distance=100,
        lot_step=0.01,
        max_position=0.257,
    ),
    case(
        "below min lot is zero",
        "0",
        False,
        "below min_lot 1",
        equity=1_000,
        risk_pct=0.5,
        entry_price=100,
        stop_distance=7,
        lot_step=0.001,
        min_lot=1,
    ),
    case(
        "too small for one step",
        "0",
        False,
        "too small",
        equity=1_000,
        risk_pct=0.1,
        entry_price=100,
        stop_distance=5,
        lot_step=1,
    ),
    case(
        "risk 100 percent allowed",
        "1000",
        False,
        "risk 1000",
        equity=1_000,
        risk_pct=100,
        entry_price=10,
        stop_distance=1,
        lot_step=1,
    ),
]


@pytest.mark.parametrize(("kwargs", "quantity", "capped", "words"), CASES)
def test_position_size_cases(kwargs, quantity, capped, words):
    """Quantity is risk / (stop x contract) rounded down to the step, capped, zero below min."""
    result = position_size(**kwargs)
    assert result.quantity == Decimal(quantity)
    assert result.capped is capped
    assert words in result.reason


def test_quantity_is_exact_multiple_of_step_and_risk_not_exceeded():
    """The result is an exact multiple of the lot step and its stop loss never exceeds the risk."""
    for equity in (999.99, 12_345.67, 50_000, 1_234_567.89):
        for step in ("0.01", "0.001", "1", "0.1"):
            r = position_size(equity, 1.5, 250, stop_distance=3.3, lot_step=step)
            assert r.quantity % Decimal(step) == 0
            assert r.quantity * r.stop_distance <= r.risk_amount
            assert (r.quantity + Decimal(step)) * r.stop_distance > r.risk_amount


def test_result_amounts_and_dict():
    """risk_amount, stop_distance and notional are reported, and to_dict gives floats."""
    r = position_size(
        10_000, 2, 1.1, atr=0.002, atr_multiple=1.5, lot_step=0.01, contract_size=100_000
    )
    assert r.risk_amount == Decimal(200)
    assert r.stop_distance == Decimal("0.003")
    assert r.quantity == Decimal("0.66")
    assert r.notional == Decimal("0.66") * Decimal("1.1") * 100_000
    d = r.to_dict()
    assert d["quantity"] == pytest.approx(0.66) and isinstance(d["quantity"], float)
    assert d["capped"] is False and d["reason"] == r.reason


def test_round_down_to_step_has_no_float_drift():
    """0.3 / 0.1 floors to 3 steps (floats would give 2.999... and lose a step)."""
    assert round_down_to_step(Decimal("0.3"), Decimal("0.1")) == Decimal("0.3")
    assert round_down_to_step(Decimal("0.0299999"), Decimal("0.01")) == Decimal("0.02")


ERRORS = [
    ("equity", {"equity": -1}),
    ("equity", {"equity": 0}),
    ("equity", {"equity": float("nan")}),
    ("equity", {"equity": True}),
    ("risk_pct", {"risk_pct": 0}),
    ("risk_pct", {"risk_pct": 100.01}),
    ("risk_pct", {"risk_pct": -2}),
    ("entry_price", {"entry_price": 0}),
    ("stop_distance", {"stop_distance": 0}),
    ("stop_distance", {"stop_distance": -0.5}),
    ("stop_distance", {"stop_distance": None}),
    ("stop_distance", {"atr": 1, "atr_multiple": 2}),
    ("atr_multiple", {"stop_distance": None, "atr": 1}),
    ("atr", {"stop_distance": None, "atr_multiple": 2}),
    ("atr", {"stop_distance": None, "atr": 0, "atr_multiple": 2}),
    ("atr_multiple", {"stop_distance": None, "atr": 1, "atr_multiple": -1}),
    ("lot_step", {"lot_step": 0}),
    ("lot_step", {"lot_step": "abc"}),
    ("min_lot", {"min_lot": -0.01}),
    ("max_position", {"max_position": 0}),
    ("contract_size", {"contract_size": 0}),
]


@pytest.mark.parametrize(
    ("field", "override"), ERRORS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(ERRORS)]
)
def test_invalid_input_names_the_field(field, override):
    """Bad input raises InvalidInputError whose field names the culprit."""
    kwargs = {
        "equity": 10_000,
        "risk_pct": 1,
        "entry_price": 100,
        "stop_distance": 2,
        "lot_step": 1,
    }
    kwargs.update(override)
    with pytest.raises(InvalidInputError) as info:
        position_size(**kwargs)
    assert info.value.field == field
