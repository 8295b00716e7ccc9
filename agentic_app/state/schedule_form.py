"""Schedule dialog fields that map onto nested trigger config: DST policy and trading session.

Pure helpers for :mod:`agentic_app.state.scheduler`: form fields (strings) to the config's
``dst_policy`` / ``session`` objects and back. Validation stays in ``domain.triggers``.
"""

from __future__ import annotations

from typing import Any

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.instrument_calendars import calendar_for

DEFAULT = "default"
NO_SESSION = "any time"
AUTO_CALENDAR = "from symbol"
SESSION_RULES = [NO_SESSION, "trading_days", "open_hours", "after_open", "before_close"]
"""Options of the session select (the rule names of ``domain.triggers.session``)."""
CALENDARS = [AUTO_CALENDAR, "XNYS", "XNAS", "XLON", "XETR", "XTKS", "FX", "24/7"]
"""Options of the calendar select."""
FORM_FIELDS = ("dst_ambiguous", "dst_nonexistent", "session_rule", "session_calendar",
               "session_offset")
"""Dialog fields these helpers own."""


def extra_params(form: Any, trigger_type: str) -> dict[str, Any]:
    """The ``dst_policy`` (cron) and ``session`` (cron, time, price, indicator) of the form."""
    out: dict[str, Any] = {}
    if trigger_type == "cron":
        policy = {k: v for k, v in (("ambiguous", form.dst_ambiguous),
                                    ("nonexistent", form.dst_nonexistent)) if v != DEFAULT}
        out["dst_policy"] = policy or None  # None: back to the default (an edit merges)
    if trigger_type in ("cron", "time", "price", "indicator"):
        out["session"] = None  # none chosen: any time (an edit merges over the stored config)
    if trigger_type in ("cron", "time", "price", "indicator") and form.session_rule != NO_SESSION:
        session: dict[str, Any] = {"rule": form.session_rule}
        if form.session_calendar != AUTO_CALENDAR:
            session["calendar"] = form.session_calendar
        if form.session_rule in ("after_open", "before_close"):
            try:
                session["offset_minutes"] = int(form.session_offset or 0)
            except ValueError:
                raise InvalidInputError("offset must be a whole number of minutes",
                                        field="session_offset") from None
        out["session"] = session
    return out


def fill_extras(form: Any, params: dict[str, Any]) -> None:
    """Set the form's DST and session fields from a stored or template config."""
    policy = params.get("dst_policy") or {}
    form.dst_ambiguous = str(policy.get("ambiguous") or DEFAULT)
    form.dst_nonexistent = str(policy.get("nonexistent") or DEFAULT)
    session = params.get("session") or {}
    form.session_rule = str(session.get("rule") or NO_SESSION) if session else NO_SESSION
    calendar = session.get("calendar") or (
        calendar_for(str(session["symbol"])) if session.get("symbol") else AUTO_CALENDAR)
    form.session_calendar = str(calendar)
    form.session_offset = str(session.get("offset_minutes") or 0)
