"""Fixed-fractional position sizing: risk a percentage of equity over a stop distance.

Pure arithmetic in :class:`~decimal.Decimal` so that lot steps such as 0.01 or 0.001
round exactly (no float drift). Every bad input raises :class:`InvalidInputError`
naming the offending field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext

from agentic_app.domain.errors import InvalidInputError

Number = int | float | Decimal | str


@dataclass(frozen=True)
class SizingResult:
    """The outcome of a sizing: quantity in instrument units (a multiple of the lot step).

    ``capped`` is True when ``max_position`` limited the quantity; ``reason`` says in words
    how the quantity came about (including why it is zero, when it is).
    """

    quantity: Decimal
    risk_amount: Decimal
    stop_distance: Decimal
    capped: bool
    reason: str
    notional: Decimal = Decimal(0)

    def to_dict(self) -> dict:
        """JSON-friendly form (floats), e.g. for a node's output."""
        return {
            "quantity": float(self.quantity),
            "risk_amount": float(self.risk_amount),
            "stop_distance": float(self.stop_distance),
            "notional": float(self.notional),
            "capped": self.capped,
            "reason": self.reason,
        }


def to_decimal(value: Number, field: str) -> Decimal:
    """``value`` as a finite Decimal (floats through ``str`` so 0.1 stays 0.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{field} must be finite, got {value!r}", field=field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field) from None
    if not result.is_finite():
        raise InvalidInputError(f"{field} must be finite, got {value!r}", field=field)
    return result


def _positive(value: Number, field: str) -> Decimal:
    result = to_decimal(value, field)
    if result <= 0:
        raise InvalidInputError(f"{field} must be greater than 0, got {value}", field=field)
    return result


def round_down_to_step(quantity: Decimal, lot_step: Decimal) -> Decimal:
    """Largest multiple of ``lot_step`` that is <= ``quantity`` (for quantity >= 0)."""
    with localcontext() as ctx:
        ctx.prec = 50
        steps = (quantity / lot_step).to_integral_value(rounding=ROUND_FLOOR)
        return steps * lot_step if steps else Decimal(0)


def _stop_distance(
    stop_distance: Number | None, atr: Number | None, atr_multiple: Number | None
) -> tuple[Decimal, str]:
    if stop_distance is not None:
        if atr is not None or atr_multiple is not None:
            raise InvalidInputError(
                "give either stop_distance or atr with atr_multiple, not both",
                field="stop_distance",
            )
        return _positive(stop_distance, "stop_distance"), "stop"
    if atr is None and atr_multiple is None:
        raise InvalidInputError(
            "a stop is required: stop_distance, or atr with atr_multiple", field="stop_distance"
        )
    if atr is None:
        raise InvalidInputError("atr is required with atr_multiple", field="atr")
    if atr_multiple is None:
        raise InvalidInputError("atr_multiple is required with atr", field="atr_multiple")
    atr_d = _positive(atr, "atr")
    mult = _positive(atr_multiple, "atr_multiple")
    return atr_d * mult, f"{mult.normalize():f} x ATR {atr_d.normalize():f}"


def position_size(
    equity: Number,
    risk_pct: Number,
    entry_price: Number,
    *,
    stop_distance: Number | None = None,
    atr: Number | None = None,
    atr_multiple: Number | None = None,
    lot_step: Number,
    min_lot: Number = 0,
    max_position: Number | None = None,
    contract_size: Number = 1,
) -> SizingResult:
    """Size a position so that hitting the stop loses ``risk_pct`` % of ``equity``.

    quantity = equity x risk_pct / 100 / (stop_distance x contract_size), rounded DOWN to
    ``lot_step``, never above ``max_position`` (itself rounded down), and 0 when below
    ``min_lot``. The stop is ``stop_distance`` in price units, or ``atr`` x ``atr_multiple``.
    """
    equity_d = _positive(equity, "equity")
    risk = to_decimal(risk_pct, "risk_pct")
    if not Decimal(0) < risk <= Decimal(100):
        raise InvalidInputError(f"risk_pct must be in (0, 100], got {risk_pct}", field="risk_pct")
    entry = _positive(entry_price, "entry_price")
    stop, stop_text = _stop_distance(stop_distance, atr, atr_multiple)
    step = _positive(lot_step, "lot_step")
    min_lot_d = to_decimal(min_lot, "min_lot")
    if min_lot_d < 0:
        raise InvalidInputError(f"min_lot must be >= 0, got {min_lot}", field="min_lot")
    contract = _positive(contract_size, "contract_size")
    cap = None if max_position is None else _positive(max_position, "max_position")

    with localcontext() as ctx:
        ctx.prec = 50
        risk_amount = equity_d * risk / 100
        raw = risk_amount / (stop * contract)
    quantity = round_down_to_step(raw, step)
    reason = f"risk {risk_amount.normalize():f} over stop {stop.normalize():f}"
    if stop_text != "stop":
        reason += f" ({stop_text})"
    reason += f": {raw:.10g} rounded down to lot step {step.normalize():f}"

    capped = False
    if cap is not None:
        cap_rounded = round_down_to_step(cap, step)
        if quantity > cap_rounded:
            quantity, capped = cap_rounded, True
            reason += f"; capped at max_position {cap_rounded.normalize():f}"
    if quantity < min_lot_d:
        quantity = Decimal(0)
        reason += f"; zero: below min_lot {min_lot_d.normalize():f}"
    elif quantity == 0:
        reason += "; zero: risk too small for one lot step"
    return SizingResult(
        quantity=quantity,
        risk_amount=risk_amount,
        stop_distance=stop,
        capped=capped,
        reason=reason,
        notional=quantity * entry * contract,
    )
