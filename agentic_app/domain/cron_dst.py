"""Cron fire times in a local time zone, with one explicit rule for daylight-saving changes.

croniter matches the cron fields against *naive local wall times*; this module turns each
matching wall time into zero, one or two UTC instants. The rule (also in docs/SCHEDULING.md):

* A schedule is **wall-clock** when its second (6-field form), minute and hour fields are
  explicit values only: numbers, lists and ranges such as ``30 2 * * *``, ``0 9,17 * * *`` or
  ``0 9-17 * * 1-5``. It is **elapsed-time** when any of those fields holds ``*`` or a step
  ``/`` such as ``*/15 * * * *``, ``0 * * * *`` or ``0 */2 * * *``.
* A wall time that occurs once maps to its single instant (both kinds).
* A wall time inside a spring-forward gap (it does not exist):
  wall-clock schedules run once, at the first valid instant after the gap (02:30 Europe/Berlin
  on the spring-forward day runs at 03:00 CEST = 01:00 UTC); elapsed-time schedules skip it
  (that real time never happened).
* A wall time inside a fall-back overlap (it occurs twice):
  wall-clock schedules run once, at the first occurrence (``fold=0``); elapsed-time schedules run
  at both occurrences, so an hourly job keeps firing every real hour.
* Several wall times mapping to the same instant (e.g. 02:00 shifted out of the gap and a real
  03:00) fire once. The result is strictly increasing.

So a daily wall-clock job runs exactly once per local date, and a sub-daily elapsed-time job
keeps its real spacing, like cronie/Vixie cron.

A schedule's DST policy may override the rule for either case (``None`` keeps it):

* ``ambiguous``: ``"first"`` or ``"second"`` occurrence of a wall time that occurs twice;
* ``nonexistent``: ``"shift"`` (run the wall time moved forward by the gap, 02:30 -> 03:30 on a
  one-hour spring-forward) or ``"skip"`` for a wall time that does not exist.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError

#: How far (in local years) a scan may run past its start before it gives up.
MAX_SCAN_YEARS = 30
#: How far ahead of ``after`` to look for an offset drop (fall-back) that could repeat wall times.
_FALLBACK_LOOKAHEAD = timedelta(hours=4)
_FALLBACK_STEP = timedelta(minutes=15)

Ambiguous = Literal["first", "second"]
"""Which occurrence of a wall time that occurs twice (fall-back) runs."""
Nonexistent = Literal["shift", "skip"]
"""What happens to a wall time that does not exist (spring-forward)."""


def cron_fields(expression: str) -> list[str]:
    """Split a cron expression into its whitespace-separated fields."""
    return expression.split()


def has_seconds(expression: str) -> bool:
    """True for the 6-field form, whose FIRST field is seconds."""
    return len(cron_fields(expression)) == 6


def is_wall_clock(expression: str) -> bool:
    """True when the second/minute/hour fields hold explicit values only (no ``*``, no ``/``)."""
    fields = cron_fields(expression)
    time_fields = fields[:3] if len(fields) == 6 else fields[:2]
    return not any("*" in f or "/" in f for f in time_fields)


def _local_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time of an aware instant."""
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _gap_end(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """First UTC instant in (low, high] whose offset is the post-transition offset (1 s steps)."""
    target = high.astimezone(tz).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def wall_to_instants(wall: datetime, tz: ZoneInfo, *, wall_clock: bool,
                     ambiguous: Ambiguous | None = None,
                     nonexistent: Nonexistent | None = None) -> list[datetime]:
    """The UTC instants at which a matching naive wall time fires: by the module's DST rule,
    overridden by ``ambiguous`` / ``nonexistent`` when given."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    low, high = min(first, second), max(first, second)
    exists = _local_wall(first, tz) == wall
    if exists:  # occurs twice (fall-back overlap)
        if ambiguous == "first":
            return [low]
        if ambiguous == "second":
            return [high]
        return [low] if wall_clock else [low, high]
    if nonexistent == "skip" or (nonexistent is None and not wall_clock):
        return []  # in the gap: that real time never happened
    if nonexistent == "shift":
        return [high]  # the wall time read with the offset before the change: 02:30 -> 03:30
    return [_gap_end(low, high, tz)]


def _scan_start(after: datetime, tz: ZoneInfo) -> datetime:
    """Naive wall time from which to scan so that repeated wall times after ``after`` are seen."""
    offset = after.astimezone(tz).utcoffset()
    lowest = offset
    probe = after
    while probe <= after + _FALLBACK_LOOKAHEAD:
        probe += _FALLBACK_STEP
        lowest = min(lowest, probe.astimezone(tz).utcoffset())
    wall = _local_wall(after, tz) - (offset - lowest)
    return wall.replace(microsecond=0) - timedelta(seconds=1)


def iter_cron_instants(expression: str, tz: ZoneInfo, after: datetime, *,
                       ambiguous: Ambiguous | None = None,
                       nonexistent: Nonexistent | None = None) -> Iterator[datetime]:
    """Yield the UTC fire instants of ``expression`` in ``tz`` strictly after ``after``, in order
    (DST rule of the module; ``ambiguous`` / ``nonexistent``: the schedule's DST policy).

    ``after`` must be timezone-aware. Iteration ends when croniter finds no further match or the
    scan passes ``MAX_SCAN_YEARS``; otherwise it is infinite, so take what you need.
    """
    after = after.astimezone(UTC)
    wall_clock = is_wall_clock(expression)
    start = _scan_start(after, tz)
    walls = croniter(expression, start, second_at_beginning=has_seconds(expression))
    stop_year = start.year + MAX_SCAN_YEARS
    pending: deque[datetime] = deque()  # second occurrences, yielded once nothing earlier can come
    last: datetime | None = None
    while True:
        try:
            wall = walls.get_next(datetime)
        except CroniterBadDateError:
            break
        if wall.year > stop_year:
            break
        instants = wall_to_instants(wall, tz, wall_clock=wall_clock, ambiguous=ambiguous,
                                    nonexistent=nonexistent)
        if not instants:
            continue
        main, *later = instants
        pending.extend(later)
        while pending and pending[0] < main:
            candidate = pending.popleft()
            if candidate > after and (last is None or candidate > last):
                last = candidate
                yield candidate
        if main > after and (last is None or main > last):
            last = main
            yield main
    for candidate in pending:
        if candidate > after and (last is None or candidate > last):
            last = candidate
            yield candidate
