"""What a cron schedule does on the next daylight-saving change of its time zone.

:func:`next_transition` finds the next UTC offset change of a zone; :func:`transition_note`
says, in one line, which of the schedule's wall times fall into the gap (spring-forward) or the
overlap (fall-back) and what happens to them, using :func:`cron_dst.wall_to_instants` (the
one DST rule, with the schedule's policy), e.g.::

    2027-03-28 02:30 does not exist in Europe/Berlin (clocks jump 02:00 -> 03:00): runs at 03:30
    2026-10-25 02:30 occurs twice in Europe/Berlin (clocks go back 03:00 -> 02:00): runs at the
    second occurrence (02:30 CET)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError

from agentic_app.domain.cron_dst import (
    Ambiguous,
    Nonexistent,
    has_seconds,
    is_wall_clock,
    wall_to_instants,
)

#: How far ahead a transition is looked for.
HORIZON = timedelta(days=400)
#: At most this many affected wall times are examined for one note.
MAX_AFFECTED = 200


@dataclass(frozen=True)
class Transition:
    """One UTC offset change: ``at`` is the first instant with the new offset."""

    at: datetime
    before: timedelta
    after: timedelta

    @property
    def is_gap(self) -> bool:
        """True for spring-forward (wall times are skipped), False for fall-back."""
        return self.after > self.before

    def wall_range(self) -> tuple[datetime, datetime]:
        """The naive local wall times [start, end) that do not exist / occur twice."""
        naive = self.at.replace(tzinfo=None)
        low, high = sorted((self.before, self.after))
        return naive + low, naive + high


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta(0)


def next_transition(tz: ZoneInfo, after: datetime) -> Transition | None:
    """The first offset change of ``tz`` strictly after ``after`` (aware) within ``HORIZON``."""
    start = after.astimezone(UTC)
    base = _offset(start, tz)
    step = timedelta(hours=6)
    probe = start
    while probe < start + HORIZON:
        nxt = probe + step
        if _offset(nxt, tz) != base:
            lo, hi = int(probe.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(datetime.fromtimestamp(mid, UTC), tz) == base:
                    lo = mid
                else:
                    hi = mid
            at = datetime.fromtimestamp(hi, UTC)
            return Transition(at, base, _offset(at, tz))
        probe = nxt
    return None


def _affected_walls(expression: str, start: datetime, end: datetime) -> list[datetime]:
    """Wall times in [start, end) the cron expression matches (at most ``MAX_AFFECTED``)."""
    walls = croniter(expression, start - timedelta(seconds=1),
                     second_at_beginning=has_seconds(expression))
    out: list[datetime] = []
    while len(out) < MAX_AFFECTED:
        try:
            wall = walls.get_next(datetime)
        except CroniterBadDateError:
            break
        if wall >= end:
            break
        out.append(wall)
    return out


def _clock(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    return f"{local:%H:%M} {local.tzname()}"


def _outcome(instants: list[datetime], tz: ZoneInfo, gap: bool) -> str:
    if not instants:
        return "skipped"
    if gap:
        return f"runs at {instants[0].astimezone(tz):%H:%M}"
    if len(instants) == 2:
        return f"runs at both ({_clock(instants[0], tz)} and {_clock(instants[1], tz)})"
    first = instants[0] == min(_readings(instants[0], tz))
    which = "first" if first else "second"
    return f"runs at the {which} occurrence ({_clock(instants[0], tz)})"


def _readings(instant: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Both UTC readings (fold 0 and 1) of the local wall time of ``instant``."""
    wall = instant.astimezone(tz).replace(tzinfo=None, fold=0)
    return (wall.replace(tzinfo=tz, fold=0).astimezone(UTC),
            wall.replace(tzinfo=tz, fold=1).astimezone(UTC))


def transition_note(expression: str, timezone: str, after: datetime, *,
                    ambiguous: Ambiguous | None = None,
                    nonexistent: Nonexistent | None = None) -> str | None:
    """One line on what the cron schedule does at the next DST change of ``timezone`` after
    ``after``; None when the zone has no change within ``HORIZON`` (e.g. UTC)."""
    tz = ZoneInfo(timezone)
    change = next_transition(tz, after)
    if change is None:
        return None
    start, end = change.wall_range()
    clocks = (f"clocks jump {start:%H:%M} -> {end:%H:%M}" if change.is_gap
              else f"clocks go back {end:%H:%M} -> {start:%H:%M}")
    walls = _affected_walls(expression, start, end)
    if not walls:
        return f"next DST change in {timezone} on {start:%Y-%m-%d} ({clocks}): no run affected"
    wall_clock = is_wall_clock(expression)
    instants = wall_to_instants(walls[0], tz, wall_clock=wall_clock, ambiguous=ambiguous,
                                nonexistent=nonexistent)
    state = "does not exist" if change.is_gap else "occurs twice"
    more = f" (and {len(walls) - 1} more time(s) like it)" if len(walls) > 1 else ""
    return (f"{walls[0]:%Y-%m-%d %H:%M} {state} in {timezone} ({clocks}): "
            f"{_outcome(instants, tz, change.is_gap)}{more}")
