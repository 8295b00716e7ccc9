"""Trigger specifications: config models, validation, fire-time previews and descriptions.

Five trigger types, each with its own pydantic model (``extra="forbid"``):
``cron`` (alias ``schedule``), ``time`` (alias ``interval``), ``price``, ``indicator`` and
``webhook``. ``parse_trigger_config`` turns a JSON dict into one of them and reports errors as
``InvalidInputError`` naming ``trigger_config.<field>``.

Cron expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 fields whose
FIRST field is seconds (second minute hour day-of-month month day-of-week). Fire times are
computed in the job's IANA timezone by ``cron_dst`` (DST rule documented there and in
docs/SCHEDULING.md) and returned as aware UTC datetimes. Interval fire times are
``start_at + k * interval`` in elapsed (UTC) time, plus a deterministic jitter.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options
from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from agentic_app.domain.cron_dst import iter_cron_instants
from agentic_app.domain.errors import InvalidInputError

#: Upper bound of ``count`` for fire-time previews.
MAX_PREVIEW_COUNT = 100
#: Shortest interval of a ``time`` trigger, in minutes.
MIN_INTERVAL_MINUTES = 1
#: Longest interval of a ``time`` trigger (one week), in minutes.
MAX_INTERVAL_MINUTES = 10080
#: Largest accepted webhook body limit (1 MiB).
MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
#: Priority names accepted in place of an int in -10..10 (higher runs first).
PRIORITY_NAMES = {"high": 5, "normal": 0, "low": -5}
#: Trigger type names accepted by ``parse_trigger_config`` and the canonical type they mean.
TRIGGER_TYPE_ALIASES = {
    "cron": "cron",
    "schedule": "cron",
    "time": "time",
    "interval": "time",
    "price": "price",
    "indicator": "indicator",
    "webhook": "webhook",
}
#: Timeframes an indicator trigger may use.
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
#: Indicator params accepted per indicator, with their defaults.
INDICATOR_DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "rsi": {"period": 14},
    "sma": {"period": 20},
    "ema": {"period": 20},
    "atr": {"period": 14},
    "macd": {"fast": 12, "slow": 26, "signal": 9},
    "bbands": {"period": 20, "std_dev": 2.0},
}

_SYMBOL_RE = re.compile(r"^[A-Z0-9._/-]{2,20}$")
_CRON_FIELD_NAMES = {
    5: ("minute", "hour", "day-of-month", "month", "day-of-week"),
    6: ("second", "minute", "hour", "day-of-month", "month", "day-of-week"),
}
_CRON_FIELD_RANGES = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31 or L",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT (0 and 7 are Sunday)",
}

OverlapPolicy = Literal["skip", "queue_one", "allow"]


# --------------------------------------------------------------------------- validation helpers


def _priority(value: Any) -> Any:
    """Map a priority name to its int; leave other values to the int validator."""
    if isinstance(value, str) and value.strip().lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.strip().lower()]
    return value


def _to_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC."""
    return value.astimezone(UTC)


Priority = Annotated[int, BeforeValidator(_priority), Field(ge=-10, le=10)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def priority_level(priority: int) -> Literal["high", "normal", "low"]:
    """The queue band of a priority: > 0 high, 0 normal, < 0 low."""
    if priority > 0:
        return "high"
    return "low" if priority < 0 else "normal"


def validate_timezone(value: str) -> str:
    """Return ``value`` if it is a known IANA timezone, else raise ``InvalidInputError``."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"unknown IANA timezone {value!r} (e.g. 'UTC', 'Europe/Berlin')", field="timezone"
        ) from exc
    return value


def validate_cron(expression: str) -> None:
    """Raise ``InvalidInputError(field="cron_expression")`` unless ``expression`` is usable.

    Accepts 5 fields or 6 fields with seconds FIRST; rejects other field counts, out-of-range or
    unparsable fields (naming the field), and schedules that never fire (``0 0 30 2 *``).
    """
    field = "cron_expression"
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInputError("cron_expression must be a non-empty string", field=field)
    parts = expression.split()
    if len(parts) not in _CRON_FIELD_NAMES:
        raise InvalidInputError(
            f"cron_expression has {len(parts)} fields; expected 5 (minute hour day-of-month "
            "month day-of-week) or 6 (second minute hour day-of-month month day-of-week)",
            field=field,
        )
    names = _CRON_FIELD_NAMES[len(parts)]
    seconds = len(parts) == 6
    for index, (name, value) in enumerate(zip(names, parts, strict=True)):
        probe = ["*"] * len(parts)
        probe[index] = value
        try:
            croniter.expand(" ".join(probe), second_at_beginning=seconds)
        except (CroniterError, ValueError, TypeError, IndexError, KeyError) as exc:
            raise InvalidInputError(
                f"cron_expression {name} field {value!r} is invalid "
                f"(allowed: {_CRON_FIELD_RANGES[name]}, '*', lists, ranges, steps)",
                field=field,
            ) from exc
    try:
        croniter(expression, datetime(2000, 1, 1), second_at_beginning=seconds).get_next(datetime)
    except CroniterBadDateError as exc:
        raise InvalidInputError(
            f"cron_expression {expression!r} never fires (no matching date)", field=field
        ) from exc
    except (CroniterError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidInputError(f"cron_expression {expression!r} is invalid", field=field) from exc


def _as_value_error(check: Callable[[str], Any], value: str) -> str:
    """Run an ``InvalidInputError``-raising check inside a pydantic validator."""
    try:
        check(value)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from exc
    return value


# ------------------------------------------------------------------------------------- models


class _TriggerBase(BaseModel):
    """Fields every trigger has: queue priority and overlap policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    priority: Priority = 0
    overlap_policy: OverlapPolicy = "skip"


class _ScheduledBase(_TriggerBase):
    """Fields of time-based triggers."""

    misfire_grace_seconds: int = Field(300, ge=0, le=86400)


class CronTriggerConfig(_ScheduledBase):
    """A cron schedule in an IANA timezone, optionally bounded by ``start_at``/``end_at``."""

    type: Literal["cron"] = "cron"
    cron_expression: str
    timezone: str = "UTC"
    start_at: UtcDatetime | None = None
    end_at: UtcDatetime | None = None

    @field_validator("cron_expression")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        return _as_value_error(validate_cron, " ".join(value.split()))

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return _as_value_error(validate_timezone, value)

    @field_validator("end_at")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start_at")
        if value is not None and start is not None and value <= start:
            raise ValueError("end_at must be after start_at")
        return value


class IntervalTriggerConfig(_ScheduledBase):
    """Every ``interval_minutes`` from ``start_at`` (or the job's creation time), plus jitter."""

    type: Literal["time"] = "time"
    interval_minutes: int = Field(ge=MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES)
    start_at: UtcDatetime | None = None
    jitter_seconds: int = Field(0, ge=0)

    @field_validator("jitter_seconds")
    @classmethod
    def _jitter_bound(cls, value: int, info: ValidationInfo) -> int:
        minutes = info.data.get("interval_minutes")
        if minutes is not None and value > minutes * 30:
            raise ValueError(f"jitter_seconds must be at most half the interval ({minutes * 30})")
        return value


class _MarketBase(_TriggerBase):
    """Fields of market-watching triggers: symbol, condition, cooldown, expiry, max fires."""

    symbol: str
    condition: str = Field(min_length=1, max_length=1000)
    cooldown_seconds: int = Field(0, ge=0, le=7 * 86400)
    expires_at: UtcDatetime | None = None
    max_fires: int | None = Field(None, ge=1)

    @field_validator("symbol", mode="before")
    @classmethod
    def _check_symbol(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        symbol = value.strip().upper()
        if not _SYMBOL_RE.fullmatch(symbol):
            raise ValueError("symbol must be 2-20 characters of A-Z, 0-9, '.', '_', '/', '-'")
        return symbol

    @field_validator("condition")
    @classmethod
    def _strip_condition(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("condition must not be blank")
        return value.strip()


class PriceTriggerConfig(_MarketBase):
    """Fires when a price condition on ``symbol`` becomes true (edge-triggered)."""

    type: Literal["price"] = "price"
    rearm_band: float = Field(0.0, ge=0)
    fire_if_true_at_start: bool = False


class IndicatorTriggerConfig(_MarketBase):
    """Fires when a condition on an indicator of ``symbol`` at ``timeframe`` becomes true."""

    type: Literal["indicator"] = "indicator"
    timeframe: Literal["1m", "5m", "15m", "1h", "4h", "1d"]
    indicator: Literal["rsi", "sma", "ema", "macd", "bbands", "atr"]
    params: dict[str, float] = Field(default_factory=dict, validate_default=True)
    evaluate_on: Literal["bar_close", "tick"] = "bar_close"

    @field_validator("indicator", mode="before")
    @classmethod
    def _lower_indicator(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        indicator = info.data.get("indicator")
        if indicator is None:
            return value
        defaults = INDICATOR_DEFAULT_PARAMS[indicator]
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            raise ValueError(
                f"unknown {indicator} param(s) {', '.join(unknown)}; allowed: {', '.join(defaults)}"
            )
        merged = {**defaults, **value}
        for name, number in merged.items():
            if name == "std_dev":
                if not 0 < number <= 10:
                    raise ValueError("std_dev must be in (0, 10]")
            elif number != int(number) or not 1 <= number <= 1000:
                raise ValueError(f"{name} must be a whole number in 1..1000")
            else:
                merged[name] = int(number)
        if indicator == "macd" and merged["fast"] >= merged["slow"]:
            raise ValueError("macd fast must be smaller than slow")
        return merged


class WebhookTriggerConfig(_TriggerBase):
    """Fires on an authenticated POST; token and secret are generated server-side."""

    type: Literal["webhook"] = "webhook"
    mode: Literal["hmac", "shared_secret"] = "hmac"
    max_body_bytes: int = Field(65536, ge=1, le=MAX_WEBHOOK_BODY_BYTES)


TriggerConfig = Annotated[
    CronTriggerConfig
    | IntervalTriggerConfig
    | PriceTriggerConfig
    | IndicatorTriggerConfig
    | WebhookTriggerConfig,
    Field(discriminator="type"),
]
_TRIGGER_ADAPTER: TypeAdapter[TriggerConfig] = TypeAdapter(TriggerConfig)


# ------------------------------------------------------------------------------------ parsing


def _error_message(error: dict[str, Any]) -> str:
    """A short message for one pydantic error."""
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_trigger_config(
    trigger_type: str,
    config: dict[str, Any],
    *,
    default_timezone: str = "UTC",
    condition_validator: Callable[[str], None] | None = None,
) -> TriggerConfig:
    """Validate ``config`` for ``trigger_type`` and return its typed model.

    ``default_timezone`` fills a cron config without ``timezone``. ``condition_validator``, when
    given, is called with a price/indicator condition and may raise ``InvalidInputError`` (e.g.
    ``ConditionError`` with a position) or ``ValueError``. Every error is an
    ``InvalidInputError`` whose ``field`` is ``trigger_type`` or ``trigger_config.<name>``.
    """
    canonical = TRIGGER_TYPE_ALIASES.get(str(trigger_type).strip().lower())
    if canonical is None:
        raise InvalidInputError(
            f"unknown trigger type {trigger_type!r}; expected one of "
            f"{', '.join(sorted(TRIGGER_TYPE_ALIASES))}",
            field="trigger_type",
        )
    if not isinstance(config, dict):
        raise InvalidInputError("trigger_config must be an object", field="trigger_config")
    declared = config.get("type", canonical)
    if TRIGGER_TYPE_ALIASES.get(str(declared).lower()) != canonical:
        raise InvalidInputError(
            f"trigger_config.type {declared!r} does not match trigger type {trigger_type!r}",
            field="trigger_config.type",
        )
    data = {**config, "type": canonical}
    if canonical == "cron":
        data.setdefault("timezone", default_timezone)
    try:
        parsed = _TRIGGER_ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        located = [e for e in errors if e["loc"] and e["loc"][0] == canonical] or errors
        first = located[0]
        loc = [str(part) for part in first["loc"]]
        if loc and loc[0] == canonical:
            loc = loc[1:]
        field = ".".join(["trigger_config", *loc])
        message = _error_message(first)
        if loc and message.startswith(f"{loc[-1]} "):
            message = f"trigger_config.{message}"  # already names its field
        else:
            message = f"{field}: {message}"
        raise InvalidInputError(message, field=field) from exc
    if condition_validator is not None and isinstance(
        parsed, PriceTriggerConfig | IndicatorTriggerConfig
    ):
        _check_condition(parsed.condition, condition_validator)
    return parsed


def _check_condition(condition: str, validator: Callable[[str], None]) -> None:
    """Run the injected condition validator; re-raise its error on ``trigger_config.condition``."""
    field = "trigger_config.condition"
    try:
        validator(condition)
    except InvalidInputError as exc:
        raise type(exc)(f"{field}: {exc.message}", field=field, position=exc.position) from exc
    except ValueError as exc:
        raise InvalidInputError(f"{field}: {exc}", field=field) from exc


# --------------------------------------------------------------------------------- fire times


def _jitter(key: str, index: int, jitter_seconds: int) -> timedelta:
    """Deterministic jitter in [0, jitter_seconds] seconds for fire ``index`` of job ``key``."""
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.blake2b(f"{key}:{index}".encode(), digest_size=8).digest()
    return timedelta(seconds=int.from_bytes(digest, "big") % (jitter_seconds + 1))


def _interval_times(
    config: IntervalTriggerConfig, after: datetime, count: int, jitter_key: str, anchor: datetime
) -> list[datetime]:
    """Interval fire times strictly after ``after``: base + k * interval + jitter(k)."""
    step = timedelta(minutes=config.interval_minutes)
    base = config.start_at or (anchor.astimezone(UTC) + step)
    index = max(0, (after - base) // step)
    out: list[datetime] = []
    while len(out) < count:
        fire = base + index * step + _jitter(jitter_key, index, config.jitter_seconds)
        if fire > after:
            out.append(fire)
        index += 1
    return out


def _cron_times(config: CronTriggerConfig, after: datetime, count: int) -> list[datetime]:
    """Cron fire times strictly after ``after`` within [start_at, end_at]."""
    if config.start_at is not None and config.start_at > after:
        after = config.start_at - timedelta(microseconds=1)
    times = iter_cron_instants(config.cron_expression, ZoneInfo(config.timezone), after)
    if config.end_at is not None:
        end = config.end_at
        return [t for t in islice(times, count) if t <= end]
    return list(islice(times, count))


def next_fire_times(
    config: TriggerConfig,
    after: datetime,
    count: int = 5,
    *,
    jitter_key: str = "",
    anchor: datetime | None = None,
) -> list[datetime]:
    """The next ``count`` (1..100) fire times strictly after ``after``, as aware UTC datetimes.

    Cron: by the DST rule of ``cron_dst``. Interval: ``start_at + k * interval`` (k >= 0); with no
    ``start_at`` the schedule is anchored at ``anchor`` (the job's creation time; defaults to
    ``after``) and first fires one interval later. Jitter depends only on (``jitter_key``, k),
    so previews are stable. Price, indicator and webhook triggers have no schedule: ``[]``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PREVIEW_COUNT:
        raise InvalidInputError(f"count must be 1..{MAX_PREVIEW_COUNT}", field="count")
    if after.tzinfo is None or after.utcoffset() is None:
        raise InvalidInputError("after must be timezone-aware", field="after")
    after = after.astimezone(UTC)
    if isinstance(config, CronTriggerConfig):
        return _cron_times(config, after, count)
    if isinstance(config, IntervalTriggerConfig):
        if anchor is not None and (anchor.tzinfo is None or anchor.utcoffset() is None):
            raise InvalidInputError("anchor must be timezone-aware", field="anchor")
        return _interval_times(config, after, count, jitter_key, anchor or after)
    return []


def next_fire_time(
    config: TriggerConfig,
    after: datetime,
    *,
    jitter_key: str = "",
    anchor: datetime | None = None,
) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC), or None if there is none."""
    times = next_fire_times(config, after, 1, jitter_key=jitter_key, anchor=anchor)
    return times[0] if times else None


# -------------------------------------------------------------------------------- description


def describe_cron(expression: str) -> str:
    """A 24-hour English description of a 5- or 6-field (seconds first) cron expression."""
    text = " ".join(expression.split())
    if len(text.split()) == 6:
        text += " *"  # 7-field form: seconds first, year last, so nothing is guessed
    options = Options(locale_code="en_US", use_24hour_time_format=True)
    return ExpressionDescriptor(text, options).get_description()


def _plural(amount: int, unit: str) -> str:
    """'minute' / '5 minutes'."""
    return unit if amount == 1 else f"{amount} {unit}s"


def _interval_text(minutes: int) -> str:
    """'Every 5 minutes', 'Every hour', 'Every 2 days'."""
    if minutes % 1440 == 0:
        return f"Every {_plural(minutes // 1440, 'day')}"
    if minutes % 60 == 0:
        return f"Every {_plural(minutes // 60, 'hour')}"
    return f"Every {_plural(minutes, 'minute')}"


def _indicator_label(config: IndicatorTriggerConfig) -> str:
    """'RSI(14)', 'MACD(12, 26, 9)', 'BBANDS(20, 2)'."""
    values = ", ".join(f"{v:g}" for v in config.params.values())
    return f"{config.indicator.upper()}({values})"


def describe(config: TriggerConfig) -> str:
    """A one-line human-readable description of a trigger config."""
    if isinstance(config, CronTriggerConfig):
        return f"{describe_cron(config.cron_expression)} ({config.timezone})"
    if isinstance(config, IntervalTriggerConfig):
        text = _interval_text(config.interval_minutes)
        if config.start_at is not None:
            text += f", from {config.start_at:%Y-%m-%d %H:%M} UTC"
        if config.jitter_seconds:
            text += f", jitter up to {config.jitter_seconds} s"
        return text
    if isinstance(config, PriceTriggerConfig):
        return f"When {config.symbol} {config.condition}"
    if isinstance(config, IndicatorTriggerConfig):
        label = f"{_indicator_label(config)} on {config.symbol} {config.timeframe}"
        when = "on bar close" if config.evaluate_on == "bar_close" else "on every tick"
        name = re.match(rf"\s*{config.indicator}\b(?!\s*\()", config.condition, re.IGNORECASE)
        if name:
            return f"When {label}{config.condition[name.end() :]}, {when}"
        return f"When {label}: {config.condition}, {when}"
    if config.mode == "hmac":
        return "On signed webhook"
    return "On shared-secret webhook"
