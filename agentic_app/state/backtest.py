"""The backtest panel of the new/edit schedule dialog: where the price or indicator trigger in
the form would have fired over the last days of the feed, by the live watcher's own
evaluation (``app.triggers.backtest``, the twin of ``POST /scheduler/backtest``).

The dialog's state (``SchedulerState``) sends the form's trigger here whenever it changes;
the backtest runs in a worker thread, so the event loop never waits for it, and a newer
request supersedes an older one still running.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentic_app.domain.errors import AgenticError, InvalidInputError
from agentic_app.services.app import MAX_BACKTEST_DAYS
from agentic_app.state.base import AppState
from agentic_app.state.common import app, error_text

DAY_CHOICES = ["1", "3", "7", "30", "90"]
"""Windows the panel offers, in days (at most ``MAX_BACKTEST_DAYS``)."""
MAX_FORM_BYTES = 4096
"""Largest trigger form the panel accepts (the form holds a symbol, a condition and a few
numbers; the condition itself is capped by the trigger model)."""


def _small_form(params: Any, depth: int = 0) -> bool:
    """A dict of at most 64 short fields whose values are short scalars or (one level down,
    like an indicator's params) such a dict; checked before any ``repr``, so a huge or deeply
    nested payload is refused unread."""
    if not isinstance(params, dict) or len(params) > 64:
        return False
    for key, value in params.items():
        if not isinstance(key, str) or len(key) > 64:
            return False
        if isinstance(value, dict):
            if depth >= 1 or not _small_form(value, depth + 1):
                return False
        elif isinstance(value, str):
            if len(value) > MAX_FORM_BYTES:
                return False
        elif not isinstance(value, int | float | bool | type(None)):
            return False
    return depth > 0 or len(repr(params)) <= MAX_FORM_BYTES


class BacktestState(AppState):
    """Result of the last backtest of the dialog's trigger."""

    days: str = "7"
    points: list[dict[str, Any]] = []
    count: int = 0
    window_days: str = ""
    error: str = ""
    running: bool = False
    _request: int = 0
    _trigger: tuple[str, dict[str, Any]] | None = None

    @rx.var
    def summary(self) -> str:
        """'would have fired 14 times in 30 days'."""
        if not self.window_days:
            return ""
        times = "once" if self.count == 1 else f"{self.count} times"
        return f"would have fired {times} in {self.window_days} days"

    @rx.event
    def clear(self):
        """Forget the last result (the dialog opened on another trigger)."""
        self.points, self.count, self.window_days, self.error = [], 0, "", ""
        self._trigger = None

    @rx.event
    async def run(self, trigger_type: str, params: dict[str, Any]):
        """Backtest ``params`` (the dialog's trigger form) over the chosen window."""
        if not self._resolve():
            return
        if trigger_type not in ("price", "indicator") or not _small_form(params):
            self.error = "the trigger form is not a price or indicator trigger of sane size"
            self.points, self.count, self.window_days = [], 0, ""
            return
        self._trigger = (trigger_type, dict(params))
        await self._run()

    @rx.event
    async def set_days(self, value: str):
        """Pick the window and backtest the last trigger again."""
        if value not in DAY_CHOICES:
            self.error = f"days must be one of {', '.join(DAY_CHOICES)}"
            return
        self.days = value
        if self._resolve() and self._trigger is not None:
            await self._run()

    async def _run(self) -> None:
        trigger_type, params = self._trigger
        self._request += 1
        request, actor = self._request, self._actor()
        days = min(float(self.days), MAX_BACKTEST_DAYS)
        self.running, self.error = True, ""
        try:
            result = await asyncio.to_thread(app().triggers.backtest, actor,
                                             trigger_type=trigger_type, config=params,
                                             days=days)
        except (AgenticError, InvalidInputError) as exc:
            if request == self._request:
                self.error, self.points, self.count, self.window_days = (
                    error_text(exc), [], 0, "")
            return
        except Exception:  # an unexpected failure is shown, never left spinning
            if request == self._request:
                self.error, self.points, self.count, self.window_days = (
                    "the backtest failed unexpectedly", [], 0, "")
            raise
        finally:
            if request == self._request:
                self.running = False
        if request != self._request:  # a newer request is on its way
            return
        self.points, self.count = result["chart"], int(result["count"])
        self.window_days = f"{result['days']:g}"
