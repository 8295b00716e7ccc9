"""Tests for the TA-Lib indicator wrappers, registry and parameter validation."""

import numpy as np
import pytest
import talib

from agentic_app.domain.errors import InvalidInputError
from agentic_app.market import indicators as ind
from agentic_app.market.base import Bars

RNG = np.random.default_rng(1234)
CLOSE = 100.0 + np.cumsum(RNG.normal(0, 1, 300))
HIGH = CLOSE + RNG.uniform(0, 1, 300)
LOW = CLOSE - RNG.uniform(0, 1, 300)


def _bars() -> Bars:
    """Fixed bars built from the module's arrays."""
    ts = np.arange(300, dtype=np.int64) * 60
    return Bars("X", "1m", ts, CLOSE.copy(), HIGH, LOW, CLOSE, np.ones(300))


def _same(a, b):
    """Arrays equal including NaN positions."""
    np.testing.assert_array_equal(a, b)


def test_wrappers_equal_talib():
    """Each wrapper returns exactly what TA-Lib returns for the same arrays and params."""
    _same(ind.rsi(CLOSE), talib.RSI(CLOSE, timeperiod=14))
    _same(ind.rsi(CLOSE, 7), talib.RSI(CLOSE, timeperiod=7))
    _same(ind.sma(CLOSE, 10), talib.SMA(CLOSE, timeperiod=10))
    _same(ind.ema(CLOSE, 21), talib.EMA(CLOSE, timeperiod=21))
    for got, want in zip(ind.macd(CLOSE), talib.MACD(CLOSE, 12, 26, 9), strict=True):
        _same(got, want)
    for got, want in zip(ind.bbands(CLOSE, 20, 2.5, 1.5),
                         talib.BBANDS(CLOSE, timeperiod=20, nbdevup=2.5, nbdevdn=1.5, matype=0),
                         strict=True):
        _same(got, want)
    _same(ind.atr(HIGH, LOW, CLOSE), talib.ATR(HIGH, LOW, CLOSE, timeperiod=14))


def test_textbook_values():
    """SMA of 1..10 over 5 ends at 8; a steadily rising series has RSI 100."""
    ones_to_ten = np.arange(1, 11, dtype=float)
    assert ind.sma(ones_to_ten, 5)[-1] == 8.0
    assert ind.rsi(ones_to_ten, 5)[-1] == pytest.approx(100.0)
    assert ind.compute("sma", [1, 2, 3, 4, 5], period=5)["sma"][-1] == 3.0


def test_compute_and_latest_by_name_on_bars():
    """compute returns named outputs per the registry; latest returns their last values."""
    bars = _bars()
    out = ind.compute("MACD", bars, fast=5, slow=10, signal=3)
    assert list(out) == ["macd", "signal", "hist"]
    _same(out["hist"], talib.MACD(CLOSE, 5, 10, 3)[2])
    last = ind.latest("bbands", bars)
    assert list(last) == ["upper", "middle", "lower"]
    assert last["middle"] == pytest.approx(CLOSE[-20:].mean())
    assert ind.latest("atr", bars)["atr"] == talib.ATR(HIGH, LOW, CLOSE, 14)[-1]
    mapping = {"high": HIGH, "low": LOW, "close": CLOSE}
    assert ind.latest("atr", mapping, period=5)["atr"] == talib.ATR(HIGH, LOW, CLOSE, 5)[-1]


def test_registry_defaults_and_lookback():
    """The registry lists the six indicators with usual defaults and TA-Lib's lookbacks."""
    assert set(ind.INDICATORS) == {"rsi", "sma", "ema", "macd", "bbands", "atr"}
    assert ind.INDICATORS["rsi"].defaults() == {"period": 14}
    assert ind.INDICATORS["macd"].defaults() == {"fast": 12, "slow": 26, "signal": 9}
    assert ind.INDICATORS["bbands"].defaults() == {"period": 20, "nbdev_up": 2.0, "nbdev_dn": 2.0}
    assert ind.INDICATORS["rsi"].min_bars() == 15
    assert ind.INDICATORS["sma"].lookback(period=5) == 4
    assert ind.INDICATORS["macd"].lookback() == 33
    nan_lead = int(np.isnan(ind.macd(CLOSE)[2]).sum())
    assert nan_lead == ind.INDICATORS["macd"].lookback()


def test_latest_with_too_few_bars():
    """latest names the bar count needed when the input is too short."""
    with pytest.raises(InvalidInputError) as info:
        ind.latest("rsi", CLOSE[:14])
    assert info.value.field == "bars" and "15" in info.value.message


@pytest.mark.parametrize("name,params,field", [
    ("rsi", {"period": 1}, "period"),
    ("rsi", {"period": 1001}, "period"),
    ("sma", {"period": 2.5}, "period"),
    ("ema", {"period": "10"}, "period"),
    ("ema", {"period": True}, "period"),
    ("macd", {"fast": 30, "slow": 26}, "fast"),
    ("bbands", {"nbdev_up": 0}, "nbdev_up"),
    ("bbands", {"nbdev_dn": float("nan")}, "nbdev_dn"),
    ("atr", {"length": 5}, "length"),
    ("vwap", {}, "indicator"),
])
def test_param_validation_names_the_param(name, params, field):
    """Bad or unknown params and unknown indicators raise InvalidInputError naming them."""
    with pytest.raises(InvalidInputError) as info:
        ind.compute(name, _bars(), **params)
    assert info.value.field == field


def test_wrappers_validate_too():
    """The plain wrappers reject bad params as well."""
    with pytest.raises(InvalidInputError):
        ind.macd(CLOSE, fast=26, slow=12)
    with pytest.raises(InvalidInputError):
        ind.compute("atr", CLOSE)
