"""What every trigger type shares: constants, priority, timezone check, the base config model.

Also :func:`field_error`, the one way a trigger validator reports an error on a named field with
an optional position (a condition's caret), so ``parse_trigger_config`` can name it as
``trigger_config.<field>``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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
#: Canonical trigger types: time triggers (scheduled), market triggers (watched), webhook.
TIME_TRIGGERS = ("cron", "time")
MARKET_TRIGGERS = ("price", "indicator")
#: Error type of :func:`field_error` (its ``ctx`` carries the ``position``).
FIELD_ERROR_TYPE = "trigger_field"

OverlapPolicy = Literal["skip", "queue_one", "allow"]


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


def as_value_error(check: Callable[[str], Any], value: str) -> str:
    """Run an ``InvalidInputError``-raising check inside a pydantic validator."""
    try:
        check(value)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from exc
    return value


def field_error(model: str, field: str, value: Any, exc: InvalidInputError) -> ValidationError:
    """A pydantic error on ``field`` carrying ``exc``'s message and position, for model
    validators that check one field against others (e.g. a condition against its indicator)."""
    ctx = {"message": exc.message, "position": exc.position}
    error = PydanticCustomError(FIELD_ERROR_TYPE, "{message}", ctx)  # type: ignore[arg-type]
    details = InitErrorDetails(type=error, loc=(field,), input=value)
    return ValidationError.from_exception_data(model, [details])


class TriggerBase(BaseModel):
    """Fields every trigger has: queue priority and overlap policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    priority: Priority = 0
    overlap_policy: OverlapPolicy = "skip"
