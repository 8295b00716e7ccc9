"""Live execution monitor page (filled in by the monitoring step)."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame


def monitor_page() -> rx.Component:
    """Active executions, live."""
    return page_frame("Monitor", empty_state("activity", "No active executions",
                                              "Running executions show up here live."))
