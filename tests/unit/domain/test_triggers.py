"""Trigger configs: parsing and errors, cron validation, interval anchoring/jitter, descriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from agentic_app.domain.errors import ConditionError, InvalidInputError
from agentic_app.domain.triggers import (
    MAX_PREVIEW_COUNT,
    CronTriggerConfig,
    IndicatorTriggerConfig,
    IntervalTriggerConfig,
    PriceTriggerConfig,
    WebhookTriggerConfig,
    describe,
    describe_cron,
    next_fire_time,
    next_fire_times,
    parse_trigger_config,
    priority_level,
    validate_cron,
)

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # a Monday


def cron(expression: str, **extra: object) -> CronTriggerConfig:
    """A parsed cron config."""
    config = parse_trigger_config("cron", {"cron_expression": expression, **extra})
    assert isinstance(config, CronTriggerConfig)
    return config


def interval(minutes: int, **extra: object) -> IntervalTriggerConfig:
    """A parsed interval config."""
    config = parse_trigger_config("time", {"interval_minutes": minutes, **extra})
    assert isinstance(config, IntervalTriggerConfig)
    return config


# ------------------------------------------------------------------------- cron validation

BAD_CRON = [
    ("0 9 * *", "has 4 fields"),
    ("0 9 * * * * *", "has 7 fields"),
    ("", "non-empty"),
    ("61 9 * * *", "minute field '61'"),
    ("0 24 * * *", "hour field '24'"),
    ("0 9 0 * *", "day-of-month field '0'"),
    ("0 9 * 13 *", "month field '13'"),
    ("0 9 * * 8", "day-of-week field '8'"),
    ("60 0 9 * * *", "second field '60'"),
    ("*/0 * * * *", "minute field '*/0'"),
    ("abc 9 * * *", "minute field 'abc'"),
    ("0 9 * * funday", "day-of-week field 'funday'"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4 *", "never fires"),
]


@pytest.mark.parametrize(("expression", "fragment"), BAD_CRON)
def test_validate_cron_rejects_bad_expressions(expression: str, fragment: str) -> None:
    """Bad cron expressions raise InvalidInputError on cron_expression saying what is wrong."""
    with pytest.raises(InvalidInputError) as caught:
        validate_cron(expression)
    assert caught.value.field == "cron_expression"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "expression",
    [
        "0 9 * * *",
        "*/5 * * * *",
        "0 0 L * *",
        "0 9 * * mon-fri",
        "0 0 * * 1#2",
        "30 0 9 * * *",
        "*/10 * * * * *",
        "0 0 29 2 *",
        "0 9 * * 7",
    ],
)
def test_validate_cron_accepts_good_expressions(expression: str) -> None:
    """Valid 5- and 6-field expressions (names, L, #, steps) pass validation."""
    validate_cron(expression)
    assert cron(expression).cron_expression == expression


def test_six_field_form_has_seconds_first() -> None:
    """In the 6-field form the first field is seconds: '15 30 9 * * *' fires at 09:30:15."""
    times = next_fire_times(cron("15 30 9 * * *"), T0, 2)
    assert times == [
        datetime(2025, 6, 2, 9, 30, 15, tzinfo=UTC),
        datetime(2025, 6, 3, 9, 30, 15, tzinfo=UTC),
    ]


def test_five_field_form_fires_on_the_minute() -> None:
    """A 5-field expression fires at second 0 of each matching minute."""
    times = next_fire_times(cron("*/20 8 * * *"), T0, 3)
    assert [t.minute for t in times] == [20, 40, 0]
    assert times[-1] == datetime(2025, 6, 3, 8, 0, tzinfo=UTC)
    assert all(t.second == 0 for t in times)


def test_cron_whitespace_is_normalised() -> None:
    """Extra spaces in a cron expression are collapsed before storing."""
    assert cron("  0   9 * *  * ").cron_expression == "0 9 * * *"


# ---------------------------------------------------------------------------- config parsing

CONFIG_ERRORS = [
    ("cron", {}, "trigger_config.cron_expression", "required"),
    ("cron", {"cron_expression": "61 * * * *"}, "trigger_config.cron_expression", "minute"),
    (
        "cron",
        {"cron_expression": "0 9 * * *", "timezone": "Mars/Base"},
        "trigger_config.timezone",
        "unknown IANA timezone",
    ),
    (
        "cron",
        {"cron_expression": "0 9 * * *", "colour": "red"},
        "trigger_config.colour",
        "unknown field",
    ),
    (
        "cron",
        {"cron_expression": "0 9 * * *", "overlap_policy": "maybe"},
        "trigger_config.overlap_policy",
        "skip",
    ),
    ("cron", {"cron_expression": "0 9 * * *", "priority": 11}, "trigger_config.priority", "10"),
    (
        "cron",
        {"cron_expression": "0 9 * * *", "misfire_grace_seconds": -1},
        "trigger_config.misfire_grace_seconds",
        "0",
    ),
    (
        "cron",
        {
            "cron_expression": "0 9 * * *",
            "start_at": "2025-01-02T00:00:00Z",
            "end_at": "2025-01-01T00:00:00Z",
        },
        "trigger_config.end_at",
        "after start_at",
    ),
    ("time", {"interval_minutes": 0}, "trigger_config.interval_minutes", "1"),
    ("time", {"interval_minutes": 10081}, "trigger_config.interval_minutes", "10080"),
    (
        "time",
        {"interval_minutes": 5, "jitter_seconds": 151},
        "trigger_config.jitter_seconds",
        "half the interval",
    ),
    (
        "time",
        {"interval_minutes": 5, "start_at": "2025-01-01T00:00:00"},
        "trigger_config.start_at",
        "timezone",
    ),
    ("price", {"symbol": "E", "condition": "price > 1"}, "trigger_config.symbol", "2-20"),
    ("price", {"symbol": "EUR USD", "condition": "price > 1"}, "trigger_config.symbol", "A-Z"),
    ("price", {"symbol": "EURUSD", "condition": "  "}, "trigger_config.condition", "blank"),
    ("price", {"symbol": "EURUSD"}, "trigger_config.condition", "required"),
    (
        "price",
        {"symbol": "EURUSD", "condition": "price > 1", "rearm_band": -0.1},
        "trigger_config.rearm_band",
        "0",
    ),
    (
        "price",
        {"symbol": "EURUSD", "condition": "price > 1", "max_fires": 0},
        "trigger_config.max_fires",
        "1",
    ),
    (
        "indicator",
        {"symbol": "EURUSD", "timeframe": "2h", "indicator": "rsi", "condition": "rsi < 30"},
        "trigger_config.timeframe",
        "1h",
    ),
    (
        "indicator",
        {"symbol": "EURUSD", "timeframe": "1h", "indicator": "vwap", "condition": "vwap < 30"},
        "trigger_config.indicator",
        "rsi",
    ),
    (
        "indicator",
        {
            "symbol": "EURUSD",
            "timeframe": "1h",
            "indicator": "rsi",
            "params": {"length": 14},
            "condition": "rsi < 30",
        },
        "trigger_config.params",
        "unknown rsi param(s) length",
    ),
    (
        "indicator",
        {
            "symbol": "EURUSD",
            "timeframe": "1h",
            "indicator": "macd",
            "params": {"fast": 30},
            "condition": "macd > 0",
        },
        "trigger_config.params",
        "fast must be smaller than slow",
    ),
    (
        "indicator",
        {
            "symbol": "EURUSD",
            "timeframe": "1h",
            "indicator": "rsi",
            "params": {"period": 2.5},
            "condition": "rsi < 30",
        },
        "trigger_config.params",
        "whole number",
    ),
    ("webhook", {"mode": "basic"}, "trigger_config.mode", "hmac"),
    ("webhook", {"max_body_bytes": 2 * 1024 * 1024}, "trigger_config.max_body_bytes", "1048576"),
    ("webhook", {"secret": "s3cret"}, "trigger_config.secret", "unknown field"),
    (
        "cron",
        {"type": "price", "cron_expression": "0 9 * * *"},
        "trigger_config.type",
        "does not match",
    ),
]


@pytest.mark.parametrize(("kind", "config", "field", "fragment"), CONFIG_ERRORS)
def test_config_errors_name_the_field(kind: str, config: dict, field: str, fragment: str) -> None:
    """Each invalid config raises InvalidInputError whose field and message name the problem."""
    with pytest.raises(InvalidInputError) as caught:
        parse_trigger_config(kind, config)
    assert caught.value.field == field
    assert field in caught.value.message
    assert fragment in caught.value.message


def test_unknown_trigger_type_is_rejected() -> None:
    """An unknown trigger type names the trigger_type field and lists the known types."""
    with pytest.raises(InvalidInputError) as caught:
        parse_trigger_config("moon_phase", {})
    assert caught.value.field == "trigger_type"
    assert "webhook" in caught.value.message


def test_non_dict_config_is_rejected() -> None:
    """A config that is not an object is an error on trigger_config."""
    with pytest.raises(InvalidInputError) as caught:
        parse_trigger_config("cron", ["0 9 * * *"])  # type: ignore[arg-type]
    assert caught.value.field == "trigger_config"


def test_defaults_and_aliases() -> None:
    """Type aliases map to canonical types and every documented default is applied."""
    schedule = parse_trigger_config(
        "schedule", {"cron_expression": "0 9 * * *"}, default_timezone="Europe/Berlin"
    )
    assert isinstance(schedule, CronTriggerConfig)
    assert (schedule.type, schedule.timezone) == ("cron", "Europe/Berlin")
    assert (schedule.misfire_grace_seconds, schedule.overlap_policy, schedule.priority) == (
        300,
        "skip",
        0,
    )
    every = parse_trigger_config("interval", {"interval_minutes": 5})
    assert isinstance(every, IntervalTriggerConfig) and every.type == "time"
    assert every.jitter_seconds == 0 and every.start_at is None
    price = parse_trigger_config("price", {"symbol": " eurusd ", "condition": "price > 1.10"})
    assert isinstance(price, PriceTriggerConfig)
    assert (price.symbol, price.rearm_band, price.fire_if_true_at_start) == ("EURUSD", 0.0, False)
    assert (price.cooldown_seconds, price.expires_at, price.max_fires) == (0, None, None)
    hook = parse_trigger_config("webhook", {})
    assert isinstance(hook, WebhookTriggerConfig)
    assert (hook.mode, hook.max_body_bytes) == ("hmac", 65536)


def test_explicit_timezone_wins_over_default() -> None:
    """A timezone in the config is kept even when the caller passes another default."""
    config = parse_trigger_config(
        "cron",
        {"cron_expression": "0 9 * * *", "timezone": "Asia/Tokyo"},
        default_timezone="Europe/Berlin",
    )
    assert config.timezone == "Asia/Tokyo"


def test_indicator_params_get_defaults() -> None:
    """Indicator params are merged over per-indicator defaults and made integral."""
    rsi = parse_trigger_config(
        "indicator",
        {"symbol": "EURUSD", "timeframe": "1h", "indicator": "RSI", "condition": "rsi < 30"},
    )
    assert isinstance(rsi, IndicatorTriggerConfig)
    assert (rsi.indicator, rsi.params, rsi.evaluate_on) == ("rsi", {"period": 14}, "bar_close")
    macd = parse_trigger_config(
        "indicator",
        {
            "symbol": "BTCUSDT",
            "timeframe": "4h",
            "indicator": "macd",
            "params": {"fast": 8},
            "condition": "macd > 0",
        },
    )
    assert macd.params == {"fast": 8, "slow": 26, "signal": 9}


@pytest.mark.parametrize(
    ("given", "stored", "level"),
    [
        ("high", 5, "high"),
        ("normal", 0, "normal"),
        ("LOW", -5, "low"),
        (-10, -10, "low"),
        (3, 3, "high"),
    ],
)
def test_priority_names_map_to_ints(given: object, stored: int, level: str) -> None:
    """Priority names map to ints in -10..10, and ints map back to a queue band."""
    config = parse_trigger_config("webhook", {"priority": given})
    assert config.priority == stored
    assert priority_level(config.priority) == level


def test_datetimes_are_normalised_to_utc() -> None:
    """Aware datetimes with any offset are stored in UTC."""
    config = parse_trigger_config(
        "price",
        {"symbol": "EURUSD", "condition": "price > 1", "expires_at": "2025-06-02T10:00:00+02:00"},
    )
    assert config.expires_at == datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    assert config.expires_at.tzinfo is UTC


def test_condition_validator_errors_keep_field_and_position() -> None:
    """A ConditionError from the injected validator is re-raised on trigger_config.condition."""

    def validator(text: str) -> None:
        if ">" not in text:
            raise ConditionError("expected a comparison", position=6)

    good = parse_trigger_config(
        "price", {"symbol": "EURUSD", "condition": "price > 1.1"}, condition_validator=validator
    )
    assert good.condition == "price > 1.1"
    with pytest.raises(ConditionError) as caught:
        parse_trigger_config(
            "indicator",
            {"symbol": "EURUSD", "timeframe": "1h", "indicator": "rsi", "condition": "rsi"},
            condition_validator=validator,
        )
    assert (caught.value.field, caught.value.position) == ("trigger_config.condition", 6)
    assert "expected a comparison" in caught.value.message


def test_condition_validator_value_error_becomes_invalid_input() -> None:
    """A plain ValueError from the validator becomes InvalidInputError on the condition."""

    def validator(text: str) -> None:
        raise ValueError(f"cannot parse {text!r}")

    with pytest.raises(InvalidInputError) as caught:
        parse_trigger_config(
            "price", {"symbol": "EURUSD", "condition": "price > 1"}, condition_validator=validator
        )
    assert caught.value.field == "trigger_config.condition"
    assert "cannot parse 'price > 1'" in caught.value.message


# ------------------------------------------------------------------------ cron fire times


def test_cron_times_are_strictly_after_and_utc() -> None:
    """A fire time equal to `after` is excluded; `after` in another offset is honoured."""
    at_nine = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    assert next_fire_time(cron("0 9 * * *"), at_nine) == at_nine + timedelta(days=1)
    berlin_noon = datetime(2025, 6, 2, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert next_fire_time(cron("0 10 * * *"), berlin_noon) == datetime(2025, 6, 3, 10, tzinfo=UTC)
    assert next_fire_time(cron("0 11 * * *"), berlin_noon) == datetime(2025, 6, 2, 11, tzinfo=UTC)


def test_cron_start_and_end_bound_the_schedule() -> None:
    """No fire before start_at or after end_at (both inclusive)."""
    config = cron("0 9 * * *", start_at="2025-06-05T09:00:00Z", end_at="2025-06-07T09:00:00Z")
    times = next_fire_times(config, T0, 10)
    assert times == [datetime(2025, 6, d, 9, tzinfo=UTC) for d in (5, 6, 7)]
    assert next_fire_time(config, datetime(2025, 6, 7, 9, tzinfo=UTC)) is None


@pytest.mark.parametrize("count", [0, -1, MAX_PREVIEW_COUNT + 1])
def test_preview_count_is_bounded(count: int) -> None:
    """count outside 1..100 is rejected on the count field."""
    with pytest.raises(InvalidInputError) as caught:
        next_fire_times(cron("* * * * *"), T0, count)
    assert caught.value.field == "count"


def test_preview_max_count() -> None:
    """The largest preview returns exactly 100 increasing times."""
    times = next_fire_times(cron("* * * * *"), T0, MAX_PREVIEW_COUNT)
    assert len(times) == MAX_PREVIEW_COUNT
    assert times[-1] - times[0] == timedelta(minutes=MAX_PREVIEW_COUNT - 1)


def test_naive_after_is_rejected() -> None:
    """A naive `after` is an error rather than a silent guess of its zone."""
    with pytest.raises(InvalidInputError) as caught:
        next_fire_times(cron("0 9 * * *"), datetime(2025, 6, 2, 8, 0), 1)
    assert caught.value.field == "after"


def test_market_and_webhook_triggers_have_no_schedule() -> None:
    """Event-driven triggers have no fire-time preview."""
    price = parse_trigger_config("price", {"symbol": "EURUSD", "condition": "price > 1.1"})
    assert next_fire_times(price, T0, 3) == []
    assert next_fire_time(parse_trigger_config("webhook", {}), T0) is None


# --------------------------------------------------------------------- interval fire times


def test_interval_is_anchored_at_start_at() -> None:
    """Fire times are start_at + k * interval, whatever `after` is."""
    config = interval(15, start_at="2025-06-02T07:05:00Z")
    times = next_fire_times(config, T0, 3)
    assert times == [datetime(2025, 6, 2, 8, m, tzinfo=UTC) for m in (5, 20, 35)]
    before = next_fire_times(config, datetime(2025, 6, 1, tzinfo=UTC), 2)
    assert before == [datetime(2025, 6, 2, 7, m, tzinfo=UTC) for m in (5, 20)]


def test_interval_without_start_uses_anchor_plus_one_interval() -> None:
    """With no start_at, the first fire is one interval after the anchor (creation time)."""
    config = interval(10)
    created = datetime(2025, 6, 2, 7, 58, tzinfo=UTC)
    times = next_fire_times(config, T0, 2, anchor=created)
    assert times == [datetime(2025, 6, 2, 8, m, tzinfo=UTC) for m in (8, 18)]
    assert next_fire_times(config, T0, 1) == [T0 + timedelta(minutes=10)]


def test_interval_ignores_dst() -> None:
    """Interval spacing is elapsed time: constant across the Berlin fall-back night."""
    config = interval(60, start_at="2025-10-25T22:00:00+02:00")
    times = next_fire_times(config, datetime(2025, 10, 25, tzinfo=UTC), 6)
    assert {b - a for a, b in pairwise(times)} == {timedelta(hours=1)}
    assert times[0] == datetime(2025, 10, 25, 20, tzinfo=UTC)


def test_interval_jitter_is_stable_and_bounded() -> None:
    """Jitter depends only on (key, fire index), stays in [0, jitter], and differs per key."""
    config = interval(5, start_at="2025-06-02T00:00:00Z", jitter_seconds=120)
    first = next_fire_times(config, T0, 50, jitter_key="job-1")
    again = next_fire_times(config, T0, 50, jitter_key="job-1")
    later = next_fire_times(config, first[9], 40, jitter_key="job-1")
    other = next_fire_times(config, T0, 50, jitter_key="job-2")
    assert first == again
    assert later == first[10:]
    assert first != other
    start = datetime(2025, 6, 2, tzinfo=UTC)
    offsets = [(t - start) % timedelta(minutes=5) for t in first]
    assert all(timedelta(0) <= o <= timedelta(seconds=120) for o in offsets)
    assert len(set(offsets)) > 5
    assert all(b > a for a, b in pairwise(first))


def test_interval_without_jitter_is_exact() -> None:
    """jitter_seconds=0 gives exact multiples of the interval."""
    times = next_fire_times(interval(7, start_at="2025-06-02T08:00:00Z"), T0, 3, jitter_key="x")
    assert times == [T0 + timedelta(minutes=7 * k) for k in (1, 2, 3)]


# ------------------------------------------------------------------------------ descriptions


@pytest.mark.parametrize(
    ("kind", "config", "text"),
    [
        (
            "cron",
            {"cron_expression": "0 9 * * *", "timezone": "Europe/Berlin"},
            "At 09:00 (Europe/Berlin)",
        ),
        ("cron", {"cron_expression": "*/15 * * * *"}, "Every 15 minutes (UTC)"),
        ("cron", {"cron_expression": "30 0 9 * * *"}, "At 09:00:30 (UTC)"),
        ("time", {"interval_minutes": 5}, "Every 5 minutes"),
        ("time", {"interval_minutes": 1}, "Every minute"),
        ("time", {"interval_minutes": 120}, "Every 2 hours"),
        ("time", {"interval_minutes": 1440, "jitter_seconds": 30}, "Every day, jitter up to 30 s"),
        ("price", {"symbol": "EURUSD", "condition": "price > 1.10"}, "When EURUSD price > 1.10"),
        (
            "indicator",
            {
                "symbol": "EURUSD",
                "timeframe": "1h",
                "indicator": "rsi",
                "params": {"period": 14},
                "condition": "rsi < 30",
            },
            "When RSI(14) on EURUSD 1h < 30, on bar close",
        ),
        (
            "indicator",
            {
                "symbol": "BTCUSDT",
                "timeframe": "5m",
                "indicator": "ema",
                "condition": "price > ema",
                "evaluate_on": "tick",
            },
            "When EMA(20) on BTCUSDT 5m: price > ema, on every tick",
        ),
        ("webhook", {}, "On signed webhook"),
        ("webhook", {"mode": "shared_secret"}, "On shared-secret webhook"),
    ],
)
def test_describe(kind: str, config: dict, text: str) -> None:
    """describe() renders each trigger type as a short human-readable line."""
    assert describe(parse_trigger_config(kind, config)) == text


def test_describe_cron_six_fields_are_seconds_first() -> None:
    """describe_cron reads a 6-field expression with seconds first, never as a year."""
    assert describe_cron("0 30 2 * * *") == "At 02:30"
    assert "seconds" in describe_cron("*/20 * * * * *")
