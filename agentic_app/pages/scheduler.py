"""Scheduler page: scheduled jobs (filled in by the scheduler step)."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame


def scheduler_page() -> rx.Component:
    """Scheduled jobs of the user."""
    return page_frame("Scheduler", empty_state("calendar-clock", "No scheduled jobs",
                                                "Schedule a workflow by cron, interval, price, "
                                                "indicator or webhook."))
