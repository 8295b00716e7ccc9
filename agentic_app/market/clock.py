"""Clocks and UTC time helpers shared by every feed.

A clock is any zero-argument callable returning an aware UTC ``datetime``. Feeds take one so
tests and demos can pin "now". Naive datetimes given to any feed are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real current time, aware UTC."""
    return datetime.now(UTC)


class FixedClock:
    """A clock that returns a pinned time until moved with ``set`` or ``advance``."""

    def __init__(self, now: datetime):
        self._now = to_utc(now)

    def __call__(self) -> datetime:
        """Return the pinned time."""
        return self._now

    def set(self, now: datetime) -> None:
        """Pin the clock to ``now`` (naive is taken as UTC)."""
        self._now = to_utc(now)

    def advance(self, delta: timedelta | float) -> None:
        """Move the clock forward by a timedelta or a number of seconds."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        self._now = self._now + delta


def to_utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; a naive ``dt`` is taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_epoch(dt: datetime) -> float:
    """Seconds since the Unix epoch for ``dt`` (naive is taken as UTC)."""
    return to_utc(dt).timestamp()


def from_epoch(seconds: float) -> datetime:
    """Aware UTC datetime for epoch ``seconds``."""
    return datetime.fromtimestamp(float(seconds), UTC)
