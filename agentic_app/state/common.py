"""Helpers shared by the page states: the process's facade, time and error formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from agentic_app.domain.errors import AgenticError
from agentic_app.services.app import AppServices

PAGE_SIZE = 20
"""Rows per page of every list."""


def app() -> AppServices:
    """The process's application facade (the one the mounted API uses too)."""
    return AppServices.for_process()


def fmt_time(value: datetime | str | None, tz: str = "UTC", seconds: bool = False) -> str:
    """``YYYY-MM-DD HH:MM[:SS] TZ`` or an em dash when missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(ZoneInfo(tz))
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{value.strftime(pattern)} {value.tzname()}"


def fmt_ms(value: float | None) -> str:
    """Milliseconds as ``850 ms`` / ``2.4 s`` / ``3 min``; em dash when missing."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 120_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.0f} min"


def error_text(exc: Exception) -> str:
    """A user-facing message for an error raised by the services."""
    if isinstance(exc, AgenticError):
        return getattr(exc, "message", None) or str(exc)
    return f"Unexpected error: {exc}"


def pages(total: int, size: int = PAGE_SIZE) -> int:
    """Number of pages for ``total`` rows (at least 1)."""
    return max(1, -(-int(total) // size))


def stringify(row: dict[str, Any]) -> dict[str, str]:
    """Every value as text (what the tables render)."""
    return {k: "" if v is None else str(v) for k, v in row.items()}


def parse_id(value: Any) -> int:
    """An id sent by a page; 0 (never an object: the facade says not found) when it is not
    a short run of digits (a non-numeric or huge id is refused unread)."""
    text = str(value)[:12]
    return int(text) if text.isdigit() else 0


def last_path_int(state: Any) -> int:
    """The last segment of the page path as an int (the dynamic route arg), else 0."""
    try:
        return int(str(state.router.url.path).rstrip("/").rsplit("/", 1)[-1])
    except (TypeError, ValueError, AttributeError):
        return 0
