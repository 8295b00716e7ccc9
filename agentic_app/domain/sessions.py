"""Trading sessions of a calendar: when a market is open, its trading days, opens and closes.

Three kinds of calendar, one interface (:class:`Calendar`):

* an exchange (``XNYS``, ``XLON``, ``XETR``, ``XTKS`` and every other ``exchange_calendars``
  name): holidays, early closes and lunch breaks come from the maintained
  ``exchange_calendars`` library. It is imported on first use only (it pulls in pandas, about
  1.5 s), so a process that never uses a calendar never loads it; its sessions are copied into
  plain sorted lists per 5-year chunk, so queries are bisections, not pandas calls;
* ``FX``: the FX week, Sunday 17:00 to Friday 17:00 America/New_York, as five trading days
  that each run 17:00 to 17:00 (no holidays);
* ``24/7``: always open (crypto), one session per UTC day.

All instants are aware UTC datetimes.
"""

from __future__ import annotations

import bisect
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.instrument_calendars import ALWAYS, FX

CHUNK_YEARS = 5
"""Exchange sessions are loaded in chunks of this many calendar years."""
MIN_YEAR, MAX_YEAR = 1990, 2100
"""Years a calendar answers for (outside: no sessions)."""
NY = ZoneInfo("America/New_York")
ALIASES = {"24X7": ALWAYS, "CRYPTO": ALWAYS, "FOREX": FX}
"""Other accepted spellings of the built-in calendars."""


@dataclass(frozen=True)
class Session:
    """One trading session: its date label, open and close, and an optional break."""

    day: date
    open: datetime
    close: datetime
    break_start: datetime | None = None
    break_end: datetime | None = None

    def is_open(self, at: datetime) -> bool:
        """True when ``at`` is in [open, close) and not in the break."""
        if not self.open <= at < self.close:
            return False
        return not (self.break_start and self.break_end
                    and self.break_start <= at < self.break_end)


class Calendar:
    """Sessions of one calendar; subclasses give :meth:`sessions_between`."""

    name: str
    tz: ZoneInfo

    def sessions_between(self, start: datetime, end: datetime) -> list[Session]:
        """Sessions whose [open, close) overlaps [start, end), by open time."""
        raise NotImplementedError

    def session_at(self, at: datetime) -> Session | None:
        """The session whose [open, close) holds ``at`` (a break counts as inside)."""
        for s in self.sessions_between(at, at + timedelta(microseconds=1)):
            if s.open <= at < s.close:
                return s
        return None

    def is_open(self, at: datetime) -> bool:
        """True when the market is open at ``at``."""
        s = self.session_at(at)
        return s is not None and s.is_open(at)

    def is_trading_day(self, at: datetime) -> bool:
        """True when ``at``'s local date is a trading day (for FX and 24/7: when open)."""
        return self.is_open(at)

    def upcoming(self, after: datetime, horizon_days: int = 400) -> Iterator[Session]:
        """Sessions overlapping (after, after + horizon), in order, read 10 days at a time."""
        start, end = after, after + timedelta(days=horizon_days)
        seen: date | None = None
        while start < end:
            stop = min(end, start + timedelta(days=10))
            for s in self.sessions_between(start, stop):
                if seen is None or s.day > seen:
                    seen = s.day
                    yield s
            start = stop

    def next_open(self, after: datetime, horizon_days: int = 400) -> datetime | None:
        """The first instant > ``after`` at which the market opens (or a break ends)."""
        for s in self.upcoming(after, horizon_days):
            for start in (s.open, s.break_end):
                if start is not None and start > after:
                    return start
        return None

    def next_trading_day_start(self, after: datetime) -> datetime | None:
        """The first instant > ``after`` on a trading day (its local midnight, or ``after``'s
        next open for calendars whose days are their sessions)."""
        return self.next_open(after)


class AlwaysOpen(Calendar):
    """``24/7``: one session per UTC day, always open."""

    name, tz = ALWAYS, ZoneInfo("UTC")

    def sessions_between(self, start: datetime, end: datetime) -> list[Session]:
        """One session per UTC date touching [start, end)."""
        day, out = start.astimezone(UTC).date(), []
        while datetime.combine(day, time(), UTC) < end:
            opening = datetime.combine(day, time(), UTC)
            out.append(Session(day, opening, opening + timedelta(days=1)))
            day += timedelta(days=1)
        return out

    def is_open(self, at: datetime) -> bool:
        """Always."""
        return True


class FxWeek(Calendar):
    """``FX``: trading days Monday..Friday, each from 17:00 New York the day before."""

    name, tz = FX, NY

    def sessions_between(self, start: datetime, end: datetime) -> list[Session]:
        """The FX trading days overlapping [start, end)."""
        day = start.astimezone(NY).date() - timedelta(days=1)
        out: list[Session] = []
        while True:
            close = datetime.combine(day, time(17), NY).astimezone(UTC)
            opening = datetime.combine(day - timedelta(days=1), time(17), NY).astimezone(UTC)
            if opening >= end:
                return out
            if day.weekday() < 5 and close > start:
                out.append(Session(day, opening, close))
            day += timedelta(days=1)


class ExchangeCalendar(Calendar):
    """An ``exchange_calendars`` calendar, loaded lazily in 5-year chunks."""

    def __init__(self, name: str):
        self.name = name
        self._tz: ZoneInfo | None = None
        self._chunks: dict[int, tuple[list[datetime], list[Session]]] = {}
        self._lock = threading.Lock()

    @property
    def tz(self) -> ZoneInfo:  # type: ignore[override]
        """The exchange's time zone (known once a chunk is loaded)."""
        if self._tz is None:
            self._chunk(datetime.now(UTC).year // CHUNK_YEARS)
        assert self._tz is not None
        return self._tz

    def _chunk(self, index: int) -> tuple[list[datetime], list[Session]]:
        with self._lock:
            if index not in self._chunks:
                first = index * CHUNK_YEARS
                tz, sessions = _load_sessions(self.name, first, first + CHUNK_YEARS - 1)
                self._tz = self._tz or ZoneInfo(tz)
                self._chunks[index] = ([s.open for s in sessions], sessions)
            return self._chunks[index]

    def sessions_between(self, start: datetime, end: datetime) -> list[Session]:
        """Sessions overlapping [start, end), by open time."""
        lo_year = max(MIN_YEAR, (start - timedelta(days=1)).year)
        hi_year = min(MAX_YEAR, (end + timedelta(days=1)).year)
        out: list[Session] = []
        for index in range(lo_year // CHUNK_YEARS, hi_year // CHUNK_YEARS + 1):
            opens, chunk = self._chunk(index)
            for s in chunk[max(0, bisect.bisect_left(opens, start) - 1):]:
                if s.open >= end:
                    break
                if s.close > start:
                    out.append(s)
        return out

    def is_trading_day(self, at: datetime) -> bool:
        """True when ``at``'s date in the exchange's zone is a session."""
        local = at.astimezone(self.tz).date()
        noon = datetime.combine(local, time(12), self.tz).astimezone(UTC)
        return any(s.day == local for s in self.sessions_between(
            noon - timedelta(days=1), noon + timedelta(days=1)))

    def next_trading_day_start(self, after: datetime) -> datetime | None:
        """Local midnight of the next session date after ``after``'s date."""
        local = after.astimezone(self.tz).date()
        for s in self.upcoming(after):
            if s.day > local:
                return datetime.combine(s.day, time(), self.tz).astimezone(UTC)
        return None


def _load_sessions(name: str, first_year: int,
                   last_year: int) -> tuple[str, list[Session]]:
    """(time zone, sessions) of exchange ``name`` from ``first_year`` to ``last_year``."""
    import exchange_calendars  # lazy: pandas is only loaded where a calendar is used

    first_year, last_year = max(first_year, MIN_YEAR), min(last_year, MAX_YEAR)
    with warnings.catch_warnings():  # pandas 3 deprecations inside the library: not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            cal = exchange_calendars.get_calendar(name, start=f"{first_year}-01-01",
                                                  end=f"{last_year}-12-31")
        except ValueError:  # starts before the calendar's first date (XTKS: 1997-01-01)
            default = exchange_calendars.get_calendar(name)
            bound = type(default).bound_min()
            if bound is None or bound.year <= first_year:
                raise
            if bound.year > last_year:  # the whole chunk is before it: no sessions
                return str(default.tz), []
            cal = exchange_calendars.get_calendar(name, start=bound.strftime("%Y-%m-%d"),
                                                  end=f"{last_year}-12-31")
        sched = cal.schedule

    def column(key: str) -> list[datetime | None]:
        return [None if v is None or v != v else v.to_pydatetime().astimezone(UTC)
                for v in sched[key].tolist()]

    rows = zip(sched.index, column("open"), column("close"), column("break_start"),
               column("break_end"), strict=True)
    return str(cal.tz), [Session(day.date(), o, c, bs, be) for day, o, c, bs, be in rows]


def canonical_name(name: str) -> str:
    """The calendar's canonical name ('xnys' -> 'XNYS', '24x7' -> '24/7');
    ``InvalidInputError`` naming ``calendar`` when no such calendar exists."""
    text = str(name).strip().upper()
    text = ALIASES.get(text, text)
    if text in (FX, ALWAYS):
        return text
    import exchange_calendars

    if text not in exchange_calendars.get_calendar_names():
        raise InvalidInputError(
            f"unknown trading calendar {name!r}; use FX, 24/7 or an exchange code such as "
            "XNYS, XLON, XETR, XTKS", field="calendar")
    return text


@lru_cache(maxsize=64)
def get_calendar(name: str) -> Calendar:
    """The (shared, cached) calendar of a canonical name."""
    if name == ALWAYS:
        return AlwaysOpen()
    if name == FX:
        return FxWeek()
    return ExchangeCalendar(name)
