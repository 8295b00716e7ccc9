"""A trigger limited to a market's trading sessions: the ``session`` field of a trigger config.

``{"session": {"calendar": "XNYS", "rule": "trading_days"}}`` (or ``"symbol": "AAPL"``: the
instrument's calendar, :mod:`agentic_app.domain.instrument_calendars`; a price or indicator
trigger defaults to its own symbol). Rules:

* ``trading_days``: fires only on the calendar's trading days (local date of the fire);
* ``open_hours``: fires only while the market is open (early closes and breaks respected);
* ``after_open`` / ``before_close`` (cron only): fires ``offset_minutes`` after each session's
  open / before its close, so an early close moves the run with it; the cron expression's
  day fields (day of month, month, day of week) still select the days, its time fields are
  not used.

Fire times with the limit applied come from :func:`filter_times` / :func:`anchor_times` (used
by ``next_fire_times``, so previews and the stored next run follow the calendar); a fire the
scheduler meets outside a session is checked with :func:`allows` and recorded as skipped with
reason ``market_closed`` (``domain.schedule_health.MARKET_CLOSED``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.instrument_calendars import calendar_for
from agentic_app.domain.sessions import Calendar, canonical_name, get_calendar

SessionRule = Literal["trading_days", "open_hours", "after_open", "before_close"]
ANCHOR_RULES = ("after_open", "before_close")
MAX_STEPS = 2000
"""Bound on the session lookups of one fire-time computation."""
ANCHOR_HORIZON = timedelta(days=400)


class SessionLimit(BaseModel):
    """Which calendar (``calendar`` or ``symbol``), which rule, and the anchor offset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: str | None = Field(None, max_length=32)
    symbol: str | None = Field(None, max_length=64)
    rule: SessionRule = "trading_days"
    offset_minutes: int = Field(0, ge=0, le=1440)

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return canonical_name(value)
        except InvalidInputError as exc:
            raise ValueError(exc.message) from exc

    @property
    def anchored(self) -> bool:
        """True for ``after_open`` / ``before_close``."""
        return self.rule in ANCHOR_RULES

    def calendar_name(self, default_symbol: str | None = None) -> str:
        """The calendar's name: ``calendar``, else the symbol's (or the trigger's) calendar."""
        if self.calendar:
            return self.calendar
        symbol = self.symbol or default_symbol
        if not symbol:
            raise InvalidInputError("session needs a calendar or a symbol",
                                    field="trigger_config.session.calendar")
        return canonical_name(calendar_for(symbol))

    def resolve(self, default_symbol: str | None = None) -> Calendar:
        """The calendar object."""
        return get_calendar(self.calendar_name(default_symbol))

    def describe(self, default_symbol: str | None = None) -> str:
        """', on XNYS trading days only' / ', only while FX is open' / '15 minutes after the
        open of XNYS'."""
        name = self.calendar_name(default_symbol)
        if self.rule == "trading_days":
            return f", on {name} trading days only"
        if self.rule == "open_hours":
            return f", only while {name} is open"
        edge = "open" if self.rule == "after_open" else "close"
        if not self.offset_minutes:
            return f"At the {edge} of {name}"
        where = "after" if self.rule == "after_open" else "before"
        return f"{self.offset_minutes} minutes {where} the {edge} of {name}"


def check_session(value: SessionLimit | None, *, anchors: bool,
                  needs_calendar: bool) -> SessionLimit | None:
    """Field check of a trigger's ``session``: anchors only where allowed (cron), and a
    calendar or symbol where the trigger has no symbol of its own."""
    if value is None:
        return None
    if value.anchored and not anchors:
        raise ValueError(f"session.rule {value.rule!r} needs a cron trigger; use trading_days "
                         "or open_hours")
    if needs_calendar and not (value.calendar or value.symbol):
        raise ValueError("session needs a calendar (e.g. XNYS, FX, 24/7) or a symbol")
    return value


def _session_of(config: object) -> SessionLimit | None:
    return getattr(config, "session", None)


def allows(config: object, at: datetime) -> bool:
    """True when a fire of ``config`` at ``at`` may run: no session limit, an anchored one
    (its times are in session by construction), or the market open / a trading day."""
    limit = _session_of(config)
    if limit is None or limit.anchored:
        return True
    calendar = limit.resolve(getattr(config, "symbol", None))
    if limit.rule == "trading_days":
        return calendar.is_trading_day(at)
    return calendar.is_open(at)


def closed_detail(config: object) -> str:
    """The detail recorded with a 'market closed' skip."""
    limit = _session_of(config)
    if limit is None:
        return ""
    name = limit.calendar_name(getattr(config, "symbol", None))
    what = "not a trading day" if limit.rule == "trading_days" else "market not open"
    return f"{name}: {what}"


def filter_times(limit: SessionLimit, raw: Callable[[datetime], Iterator[datetime]],
                 after: datetime, count: int) -> list[datetime]:
    """The first ``count`` times of ``raw(after)`` (strictly increasing, strictly after
    ``after``) that ``limit`` allows; a closed stretch is jumped over by restarting ``raw``
    just before the next session (or trading day)."""
    calendar = limit.resolve()
    check = calendar.is_trading_day if limit.rule == "trading_days" else calendar.is_open
    jump = (calendar.next_trading_day_start if limit.rule == "trading_days"
            else calendar.next_open)
    out: list[datetime] = []
    times = raw(after)
    for _ in range(MAX_STEPS):
        when = next(times, None)
        if when is None:
            break
        if check(when):
            out.append(when)
            if len(out) == count:
                break
            continue
        start = jump(when)
        if start is None:
            break
        times = raw(max(when, start - timedelta(microseconds=1)))
    return out


def _day_filter(expression: str | None) -> Callable[[date], bool] | None:
    """A test of a date against the cron expression's day fields (day of month, month, day
    of week); None when they are all ``*``."""
    if not expression or expression.split()[-3:] == ["*", "*", "*"]:
        return None
    days = " ".join(expression.split()[-3:])
    return lambda day: croniter.match(f"0 0 {days}", datetime.combine(day, time()))


def anchor_times(limit: SessionLimit, expression: str | None, after: datetime, count: int,
                 end_at: datetime | None = None) -> list[datetime]:
    """The first ``count`` anchored fire times after ``after``: each session's open plus /
    close minus ``offset_minutes`` (early closes included), on days the cron's day fields
    match, skipped when that instant is outside the session or in its break."""
    calendar = limit.resolve()
    offset = timedelta(minutes=limit.offset_minutes)
    day_ok = _day_filter(expression)
    out: list[datetime] = []
    start, horizon = after - timedelta(days=1), after + ANCHOR_HORIZON
    while len(out) < count and start < horizon:
        window = calendar.sessions_between(start, start + timedelta(days=31))
        for s in window:
            when = s.open + offset if limit.rule == "after_open" else s.close - offset
            if when <= after or (out and when <= out[-1]):
                continue
            if not (s.is_open(when) or when == s.close):
                continue
            if day_ok is not None and not day_ok(s.day):
                continue
            if end_at is not None and when > end_at:
                return out
            out.append(when)
            if len(out) == count:
                return out
        start = start + timedelta(days=31)
    return out
