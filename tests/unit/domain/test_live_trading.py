"""The pure rules of live trading: limit overrides only tighten, refusals name the limit,
the exchange URL override is loopback-only, keys are shown masked."""

from __future__ import annotations

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.live_trading import (
    TradingLimits,
    check_test_base_url,
    counter_refusal,
    mask_key,
    order_refusal,
    validate_overrides,
)
from agentic_app.settings import SettingsError, load_settings

DEFAULTS = TradingLimits(1000.0, 20, 10_000.0, 500.0)


def test_overrides_only_tighten():
    tight = DEFAULTS.with_overrides({"max_order_notional": 100, "max_orders_per_day": None})
    assert tight.max_order_notional == 100 and tight.max_orders_per_day == 20
    assert DEFAULTS.with_overrides({"max_daily_loss": 10_000}).max_daily_loss == 500


@pytest.mark.parametrize(("values", "field"), [
    ({"max_daily_loss": 501}, "max_daily_loss"),
    ({"max_orders_per_day": 0}, "max_orders_per_day"),
    ({"max_orders_per_day": 2.5}, "max_orders_per_day"),
    ({"max_order_notional": float("nan")}, "max_order_notional"),
    ({"max_order_notional": True}, "max_order_notional"),
    ({"max_turnover_per_day": "10"}, "max_turnover_per_day"),
    ({"max_leverage": 3}, "max_leverage"),
])
def test_bad_overrides_name_the_field(values, field):
    with pytest.raises(InvalidInputError) as info:
        validate_overrides(values, DEFAULTS)
    assert info.value.field == field


def test_valid_overrides_are_normalised():
    assert validate_overrides({"max_orders_per_day": 5.0, "max_daily_loss": None},
                              DEFAULTS) == {"max_orders_per_day": 5, "max_daily_loss": None}


def test_refusals_in_order():
    assert order_refusal(DEFAULTS, 1000.0, 0.0) is None
    assert order_refusal(DEFAULTS, 1000.01, 0.0)[0] == "max_order_notional"
    assert order_refusal(DEFAULTS, 10.0, 500.0)[0] == "max_daily_loss"
    assert order_refusal(DEFAULTS, 10.0, 499.99) is None
    assert counter_refusal(DEFAULTS, 20, 10_000.0) is None
    assert counter_refusal(DEFAULTS, 21, 0.0)[0] == "max_orders_per_day"
    assert counter_refusal(DEFAULTS, 1, 10_000.5)[0] == "max_turnover_per_day"


def test_test_base_url_is_loopback_only():
    assert check_test_base_url("http://127.0.0.1:8123/") == "http://127.0.0.1:8123"
    assert check_test_base_url("http://localhost:1") == "http://localhost:1"
    for bad in ("http://10.0.0.1", "http://169.254.169.254", "https://api.binance.com",
                "file:///etc/passwd", "127.0.0.1:80"):
        with pytest.raises(ValueError):
            check_test_base_url(bad)


def test_settings_refuse_a_test_url_in_production_and_bad_keys():
    with pytest.raises(SettingsError, match="BROKER"):
        load_settings(AGENTIC_MODE="production", SECRET_KEY="s" * 40,
                      broker={"test_base_url": "http://127.0.0.1:1"})
    with pytest.raises(SettingsError, match="CREDENTIAL_KEYS"):
        load_settings(broker={"credential_keys": ["not-a-fernet-key"]})


def test_mask_key():
    assert mask_key("abcdefgh1234") == "…1234"
    assert mask_key("short") == "…"
