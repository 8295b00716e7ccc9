"""P&L by average cost (agentic_app.domain.pnl) against hand-computed examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentic_app.domain.pnl import Fill, apply_fill, equity_curve, fill_fee, replay

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# starting cash 10,000; by hand:
#   buy 10 @100 fee 1   cash 10000 - 1000 - 1 = 8999     pos +10 @100
#   buy 10 @110 fee 1   cash 8999 - 1100 - 1 = 7898      pos +20 @105
#   sell 15 @120 fee 2  realized 15 x (120 - 105) = 225   cash 7898 + 1800 - 2 = 9696  pos +5 @105
#   sell 10 @100 fee 1  realized 5 x (100 - 105) = -25, flips to -5 @100
#                       cash 9696 + 1000 - 1 = 10695
# realized 200 gross, fees 5, net 195; marked at 90: unrealized -5 x (90 - 100) = 50,
# equity 10695 - 5 x 90 = 10245 = 10000 + 195 + 50
FILLS = [
    Fill("AAPL", "buy", 10, 100.0, fee=1.0, ts=_t(0)),
    Fill("AAPL", "buy", 10, 110.0, fee=1.0, ts=_t(10)),
    Fill("AAPL", "sell", 15, 120.0, fee=2.0, ts=_t(20)),
    Fill("AAPL", "sell", 10, 100.0, fee=1.0, ts=_t(30)),
]


def test_hand_computed_account():
    """Cash, position, realized/unrealized P&L, fees and equity of the example above."""
    book = replay(10_000.0, FILLS, {"AAPL": 90.0})
    pos = book.positions["AAPL"]
    assert pos.quantity == -5 and pos.avg_price == pytest.approx(100.0)
    assert book.cash == pytest.approx(10_695.0)
    assert book.realized == pytest.approx(200.0)
    assert book.fees == pytest.approx(5.0)
    assert pos.net_realized == pytest.approx(195.0)
    assert book.unrealized == pytest.approx(50.0)
    assert pos.market_value == pytest.approx(-450.0)
    assert book.equity == pytest.approx(10_245.0)
    summary = book.summary()
    assert summary["total_pnl"] == pytest.approx(245.0)
    assert summary["net_realized_pnl"] + summary["unrealized_pnl"] == pytest.approx(245.0)


def test_contract_size_scales_cash_and_pnl():
    """0.1 lot of EURUSD (100,000 per lot) at 1.1000, marked 1.1050: 50 unrealized."""
    book = replay(100_000.0, [Fill("EURUSD", "buy", 0.1, 1.1, contract_size=100_000)],
                  {"EURUSD": 1.105})
    assert book.cash == pytest.approx(100_000.0 - 11_000.0)
    assert book.unrealized == pytest.approx(50.0)
    assert book.equity == pytest.approx(100_050.0)


def test_close_to_flat_and_short_cover():
    """A full close leaves no position and average 0; a short covered lower gains."""
    assert apply_fill(2, 50.0, -2, 60.0) == (0.0, 0.0, 20.0)
    qty, avg, realized = apply_fill(-3, 80.0, 1, 70.0)
    assert (qty, avg, realized) == (-2.0, 80.0, 10.0)


def test_fee_is_bps_of_notional_plus_fixed():
    """10 bps of 0.5 lot x 1.2 x 100,000 = 60, plus 2 per fill."""
    assert fill_fee(0.5, 1.2, 100_000, fee_bps=10, fee_per_fill=2) == pytest.approx(62.0)
    assert fill_fee(1, 100.0) == 0.0


def test_equity_curve_marks_at_prices_and_applies_fills_in_time():
    """Before the first fill equity is the starting cash; afterwards positions are marked at
    the last price at or before each time (their fill price before any)."""
    prices = {"AAPL": [(_t(5), 102.0), (_t(15), 118.0), (_t(25), 111.0), (_t(35), 95.0)]}
    times = [_t(-5), _t(0), _t(5), _t(15), _t(25), _t(35)]
    curve = equity_curve(10_000.0, FILLS, times, prices)
    got = [round(p["equity"], 6) for p in curve]
    # t-5: 10000; t0: 8999 + 10 x 100 (fill price) = 9999; t5: 8999 + 10 x 102 = 10019
    # t15: 7898 + 20 x 118 = 10258; t25: 9696 + 5 x 111 = 10251; t35: 10695 - 5 x 95 = 10220
    assert got == [10_000.0, 9_999.0, 10_019.0, 10_258.0, 10_251.0, 10_220.0]
    assert curve[-1]["fees"] == pytest.approx(5.0)
    assert curve[-1]["unrealized_pnl"] == pytest.approx(-5 * (95 - 100))
