"""Pieces shared by the scheduler page and a job's page: the health badge and the pause and
skip-next dialogs."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.widgets import error_box
from agentic_app.domain.schedule_health import HEALTH_STATUSES
from agentic_app.state.schedule_control import ScheduleControlState

C = ScheduleControlState
HEALTH_COLORS = {"healthy": "green", "failing": "red", "invalid_config": "red",
                 "auto_paused": "red", "paused": "amber", "data_stale": "orange"}
"""Badge colour per health status."""


def health_badge(status, reason, id) -> rx.Component:
    """The health badge of a schedule, its reason in a tooltip (and a data attribute)."""
    return rx.tooltip(rx.match(
        status,
        *[(name, rx.badge(name.replace("_", " "), color_scheme=HEALTH_COLORS[name],
                          variant="surface", id=id, custom_attrs={"data-health": name}))
          for name in HEALTH_STATUSES],
        rx.badge(status, variant="outline", id=id),
    ), content=rx.cond(reason != "", reason, status))


def _dialog(open_, on_open_change, title: str, body: rx.Component, on_confirm,
            confirm: str, id: str) -> rx.Component:
    return rx.dialog.root(rx.dialog.content(
        rx.dialog.title(title, " ", C.job_name),
        rx.vstack(
            body,
            rx.cond(C.error != "", error_box(C.error, id=f"{id}-error")),
            rx.hstack(rx.spacer(),
                      rx.button("Cancel", variant="soft", color_scheme="gray",
                                on_click=on_open_change(False)),
                      rx.button(confirm, on_click=on_confirm, id=f"{id}-confirm"),
                      width="100%"),
            spacing="3", width="100%"),
        max_width="480px", id=id,
    ), open=open_, on_open_change=on_open_change)


def pause_dialog() -> rx.Component:
    """Pause with a note and an optional time (UTC) at which the scheduler resumes it."""
    return _dialog(C.pause_open, C.set_pause_open, "Pause", rx.vstack(
        rx.text("Note", size="2", weight="medium"),
        rx.text_area(value=C.pause_note, on_change=C.set_pause_note, id="pause-note",
                     placeholder="why it is paused", width="100%"),
        rx.text("Resume at (UTC, optional)", size="2", weight="medium"),
        rx.input(value=C.pause_resume_at, on_change=C.set_pause_resume_at,
                 type="datetime-local", id="pause-resume-at", width="100%"),
        spacing="1", width="100%"), C.confirm_pause, "Pause", "pause-dialog")


def skip_dialog() -> rx.Component:
    """Skip the next N runs (0 cancels a skip)."""
    return _dialog(C.skip_open, C.set_skip_open, "Skip next runs of", rx.vstack(
        rx.text("How many of the next runs to skip (0 cancels)", size="2"),
        rx.input(value=C.skip_count, on_change=C.set_skip_count, type="number", min=0,
                 id="skip-count", width="100%"),
        spacing="1", width="100%"), C.confirm_skip, "Skip", "skip-dialog")
