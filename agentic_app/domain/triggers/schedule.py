"""Time triggers: ``cron`` (alias ``schedule``) and ``time`` (alias ``interval``).

Cron expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 fields whose
FIRST field is seconds (second minute hour day-of-month month day-of-week). Fire times are
computed in the job's IANA timezone by ``cron_dst`` (DST rule documented there and in
docs/SCHEDULING.md) and returned as aware UTC datetimes. Interval fire times are
``start_at + k * interval`` in elapsed (UTC) time, plus a deterministic jitter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise, takewhile
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options
from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agentic_app.domain.cron_dst import Ambiguous, Nonexistent, iter_cron_instants
from agentic_app.domain.dst_preview import transition_note
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.triggers.base import (
    MAX_INTERVAL_MINUTES,
    MIN_INTERVAL_MINUTES,
    TriggerBase,
    UtcDatetime,
    as_value_error,
    validate_timezone,
)
from agentic_app.domain.triggers.session import (
    SessionLimit,
    anchor_times,
    check_session,
    filter_times,
)

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



class ScheduledBase(TriggerBase):
    """Fields of time-based triggers: grace time and the optional trading-session limit."""

    misfire_grace_seconds: int = Field(300, ge=0, le=86400)
    session: SessionLimit | None = None
    session_anchors: ClassVar[bool] = False

    @field_validator("session")
    @classmethod
    def _check_session(cls, value: SessionLimit | None) -> SessionLimit | None:
        return check_session(value, anchors=cls.session_anchors, needs_calendar=True)

    def session_times(self, raw: Callable[[datetime], Iterator[datetime]], after: datetime,
                      count: int, *, sessions: bool) -> list[datetime]:
        """The first ``count`` times of ``raw(after)`` with the session limit applied
        (``sessions=False``: as they are, for the scheduler, which records the closed ones as
        skipped)."""
        if self.session is None or not sessions:
            return list(islice(raw(after), count))
        return filter_times(self.session, raw, after, count)


class DstPolicy(BaseModel):
    """A cron schedule's answer to daylight-saving changes; ``None`` keeps the default rule of
    ``cron_dst`` (wall-clock schedules run once per local date)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ambiguous: Ambiguous | None = None
    nonexistent: Nonexistent | None = None


class CronTriggerConfig(ScheduledBase):
    """A cron schedule in an IANA timezone, optionally bounded by ``start_at``/``end_at``,
    with an optional DST policy."""

    type: Literal["cron"] = "cron"
    cron_expression: str
    timezone: str = "UTC"
    start_at: UtcDatetime | None = None
    end_at: UtcDatetime | None = None
    dst_policy: DstPolicy | None = None
    session_anchors: ClassVar[bool] = True

    @field_validator("cron_expression")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        return as_value_error(validate_cron, " ".join(value.split()))

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return as_value_error(validate_timezone, value)

    @field_validator("end_at")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start_at")
        if value is not None and start is not None and value <= start:
            raise ValueError("end_at must be after start_at")
        return value

    def fire_times(self, after: datetime, count: int, jitter_key: str,
                   anchor: datetime, *, sessions: bool = True) -> list[datetime]:
        """Fire times strictly after ``after`` (UTC) within [start_at, end_at], with the
        session limit applied (anchored sessions always)."""
        if self.start_at is not None and self.start_at > after:
            after = self.start_at - timedelta(microseconds=1)
        if self.session is not None and self.session.anchored:
            return anchor_times(self.session, self.cron_expression, after, count, self.end_at)
        policy = self.dst_policy or DstPolicy()
        zone = ZoneInfo(self.timezone)

        def raw(start: datetime) -> Iterator[datetime]:
            times = iter_cron_instants(self.cron_expression, zone, start,
                                       ambiguous=policy.ambiguous,
                                       nonexistent=policy.nonexistent)
            if self.end_at is None:
                return times
            end = self.end_at
            return takewhile(lambda t: t <= end, times)

        return self.session_times(raw, after, count, sessions=sessions)

    def dst_note(self, after: datetime) -> str | None:
        """What happens at the next DST change of the timezone after ``after`` (None: none,
        or the runs follow a market's sessions)."""
        if self.session is not None and self.session.anchored:
            return None
        policy = self.dst_policy or DstPolicy()
        return transition_note(self.cron_expression, self.timezone, after,
                               ambiguous=policy.ambiguous, nonexistent=policy.nonexistent)

    def describe(self) -> str:
        """'At 09:00 (Europe/Berlin)'."""
        return f"{describe_cron(self.cron_expression)} ({self.timezone})"


class IntervalTriggerConfig(ScheduledBase):
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

    def fire_times(self, after: datetime, count: int, jitter_key: str,
                   anchor: datetime, *, sessions: bool = True) -> list[datetime]:
        """Fire times strictly after ``after``: base + k * interval + jitter(k), where base is
        ``start_at`` or one interval after ``anchor`` (the job's creation time), with the
        session limit applied."""
        step = timedelta(minutes=self.interval_minutes)
        base = self.start_at or (anchor.astimezone(UTC) + step)

        def raw(start: datetime) -> Iterator[datetime]:
            index = max(0, (start - base) // step)
            while True:
                fire = base + index * step + _jitter(jitter_key, index, self.jitter_seconds)
                if fire > start:
                    yield fire
                index += 1

        return self.session_times(raw, after, count, sessions=sessions)

    def describe(self) -> str:
        """'Every 5 minutes, from 2025-06-02 08:00 UTC, jitter up to 30 s'."""
        text = _interval_text(self.interval_minutes)
        if self.start_at is not None:
            text += f", from {self.start_at:%Y-%m-%d %H:%M} UTC"
        if self.jitter_seconds:
            text += f", jitter up to {self.jitter_seconds} s"
        return text


def _jitter(key: str, index: int, jitter_seconds: int) -> timedelta:
    """Deterministic jitter in [0, jitter_seconds] seconds for fire ``index`` of job ``key``."""
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.blake2b(f"{key}:{index}".encode(), digest_size=8).digest()
    return timedelta(seconds=int.from_bytes(digest, "big") % (jitter_seconds + 1))


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


def _shortest_step(values: list, span: int) -> int | None:
    """Smallest gap between consecutive values of one cron field (wrapping around ``span``),
    or None when the field holds a single value."""
    points = sorted(set(range(span) if "*" in values else (int(v) % span for v in values)))
    if len(points) < 2:
        return None
    gaps = [b - a for a, b in pairwise(points)]
    return min([*gaps, span - points[-1] + points[0]])


def shortest_cron_period(expression: str) -> int:
    """A lower bound, in seconds, of the time between two fires of a valid cron expression
    (5 fields, or 6 with seconds first): read from the seconds, minute and hour fields."""
    parts = " ".join(expression.split())
    seconds = len(parts.split()) == 6
    fields = croniter.expand(parts, second_at_beginning=seconds)[0]
    minute, hour = fields[0], fields[1]
    for values, span, unit in ((fields[5] if seconds else [0], 60, 1), (minute, 60, 60),
                               (hour, 24, 3600)):
        step = _shortest_step(values, span)
        if step is not None:
            return step * unit
    return 86400


def check_schedule_period(config: object, *, min_period_seconds: int,
                          allow_seconds_cron: bool) -> None:
    """The one rule on how often a time trigger may fire: a 6-field (seconds) cron only when
    ``allow_seconds_cron``, and no cron or interval firing more often than every
    ``min_period_seconds``. ``InvalidInputError`` naming the field otherwise; other trigger
    types pass."""
    if isinstance(config, CronTriggerConfig):
        field = "trigger_config.cron_expression"
        if len(config.cron_expression.split()) == 6 and not allow_seconds_cron:
            raise InvalidInputError(
                f"{field}: seconds-level cron (6 fields) is disabled on this server "
                "(setting SCHEDULES__ALLOW_SECONDS_CRON); use 5 fields", field=field)
        period = shortest_cron_period(config.cron_expression)
    elif isinstance(config, IntervalTriggerConfig):
        field = "trigger_config.interval_minutes"
        period = config.interval_minutes * 60
    else:
        return
    if period < min_period_seconds:
        raise InvalidInputError(
            f"{field}: fires every {period} s, more often than the minimum period of "
            f"{min_period_seconds} s (setting SCHEDULES__MIN_PERIOD_SECONDS)", field=field)
