"""Any trigger config: the tagged union, ``parse_trigger_config``, fire times and descriptions.

``parse_trigger_config`` turns a JSON dict into one of the five models and reports every error as
``InvalidInputError`` naming ``trigger_type`` or ``trigger_config.<field>`` (a condition error
is a ``ConditionError`` with its ``position``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from agentic_app.domain.errors import ConditionError, InvalidInputError
from agentic_app.domain.triggers.base import (
    FIELD_ERROR_TYPE,
    MAX_PREVIEW_COUNT,
    TRIGGER_TYPE_ALIASES,
)
from agentic_app.domain.triggers.market import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.domain.triggers.schedule import CronTriggerConfig, IntervalTriggerConfig
from agentic_app.domain.triggers.webhook import WebhookTriggerConfig

TriggerConfig = Annotated[
    CronTriggerConfig
    | IntervalTriggerConfig
    | PriceTriggerConfig
    | IndicatorTriggerConfig
    | WebhookTriggerConfig,
    Field(discriminator="type"),
]
MarketTriggerConfig = PriceTriggerConfig | IndicatorTriggerConfig
ScheduledTriggerConfig = CronTriggerConfig | IntervalTriggerConfig
_TRIGGER_ADAPTER: TypeAdapter[TriggerConfig] = TypeAdapter(TriggerConfig)


def canonical_type(trigger_type: str) -> str:
    """'cron' | 'time' | 'price' | 'indicator' | 'webhook' for a type name or alias;
    ``InvalidInputError(field="trigger_type")`` otherwise."""
    canonical = TRIGGER_TYPE_ALIASES.get(str(trigger_type).strip().lower())
    if canonical is None:
        raise InvalidInputError(
            f"unknown trigger type {trigger_type!r}; expected one of "
            f"{', '.join(sorted(TRIGGER_TYPE_ALIASES))}",
            field="trigger_type",
        )
    return canonical


def _error_message(error: dict[str, Any]) -> str:
    """A short message for one pydantic error."""
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _as_input_error(exc: ValidationError, canonical: str) -> InvalidInputError:
    """The first error of ``exc`` as an ``InvalidInputError`` on ``trigger_config.<field>``."""
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
    if first["type"] == FIELD_ERROR_TYPE and loc == ["condition"]:
        position = (first.get("ctx") or {}).get("position")
        return ConditionError(message, field=field, position=position)
    return InvalidInputError(message, field=field)


def parse_trigger_config(
    trigger_type: str,
    config: dict[str, Any],
    *,
    default_timezone: str = "UTC",
    condition_validator: Callable[[str], None] | None = None,
) -> TriggerConfig:
    """Validate ``config`` for ``trigger_type`` and return its typed model.

    ``default_timezone`` fills a cron config without ``timezone``. A price/indicator condition
    is always checked against the names the watcher provides; ``condition_validator``, when
    given, is an extra check called with the condition that may raise ``InvalidInputError``
    (e.g. ``ConditionError`` with a position) or ``ValueError``. Every error is an
    ``InvalidInputError`` whose ``field`` is ``trigger_type`` or ``trigger_config.<name>``.
    """
    canonical = canonical_type(trigger_type)
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
        raise _as_input_error(exc, canonical) from exc
    if condition_validator is not None and isinstance(parsed, MarketTriggerConfig):
        _check_condition(parsed.condition, condition_validator)
    return parsed


def _check_condition(condition: str, validator: Callable[[str], None]) -> None:
    """Run the extra condition validator; re-raise its error on ``trigger_config.condition``."""
    field = "trigger_config.condition"
    try:
        validator(condition)
    except InvalidInputError as exc:
        raise type(exc)(f"{field}: {exc.message}", field=field, position=exc.position) from exc
    except ValueError as exc:
        raise InvalidInputError(f"{field}: {exc}", field=field) from exc


def next_fire_times(
    config: TriggerConfig,
    after: datetime,
    count: int = 5,
    *,
    jitter_key: str = "",
    anchor: datetime | None = None,
    sessions: bool = True,
) -> list[datetime]:
    """The next ``count`` (1..100) fire times strictly after ``after``, as aware UTC datetimes.

    Cron: by the DST rule of ``cron_dst``. Interval: ``start_at + k * interval`` (k >= 0); with no
    ``start_at`` the schedule is anchored at ``anchor`` (the job's creation time; defaults to
    ``after``) and first fires one interval later. Jitter depends only on (``jitter_key``, k),
    so previews are stable. A ``session`` limit is applied (``sessions=False``: only an
    anchored one, so the scheduler meets and records the closed fires). Price, indicator and
    webhook triggers have no schedule: ``[]``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PREVIEW_COUNT:
        raise InvalidInputError(f"count must be 1..{MAX_PREVIEW_COUNT}", field="count")
    if after.tzinfo is None or after.utcoffset() is None:
        raise InvalidInputError("after must be timezone-aware", field="after")
    if not isinstance(config, ScheduledTriggerConfig):
        return []
    if isinstance(config, IntervalTriggerConfig) and anchor is not None and (
            anchor.tzinfo is None or anchor.utcoffset() is None):
        raise InvalidInputError("anchor must be timezone-aware", field="anchor")
    after = after.astimezone(UTC)
    return config.fire_times(after, count, jitter_key, anchor or after, sessions=sessions)


def next_fire_time(
    config: TriggerConfig,
    after: datetime,
    *,
    jitter_key: str = "",
    anchor: datetime | None = None,
    sessions: bool = True,
) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC), or None if there is none."""
    times = next_fire_times(config, after, 1, jitter_key=jitter_key, anchor=anchor,
                            sessions=sessions)
    return times[0] if times else None


def describe(config: TriggerConfig) -> str:
    """A one-line human-readable description of a trigger config (with its session limit)."""
    limit = getattr(config, "session", None)
    if limit is None:
        return config.describe()
    symbol = getattr(config, "symbol", None)
    if limit.anchored and isinstance(config, CronTriggerConfig):
        days = " ".join(config.cron_expression.split()[-3:])
        which = "every trading day" if days == "* * *" else f"trading days matching '{days}'"
        return f"{limit.describe(symbol)}, {which}"
    return config.describe() + limit.describe(symbol)
