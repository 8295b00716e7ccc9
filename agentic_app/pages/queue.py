"""Queue dashboard page (filled in by the queue step)."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame


def queue_page() -> rx.Component:
    """Jobs by status and priority."""
    return page_frame("Queue", empty_state("list-ordered", "The queue is empty",
                                            "Executions appear here when they are enqueued."))
