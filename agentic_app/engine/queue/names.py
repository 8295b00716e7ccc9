"""Names of the RQ queues, highest priority first, and priority mapping."""

from __future__ import annotations

QUEUE_HIGH = "agentic-high"
"""Queue for priority > 0."""
QUEUE_NORMAL = "agentic-normal"
"""Queue for priority == 0."""
QUEUE_LOW = "agentic-low"
"""Queue for priority < 0."""
QUEUE_NAMES = (QUEUE_HIGH, QUEUE_NORMAL, QUEUE_LOW)
"""Worker listen order: an RQ worker takes from the first non-empty queue."""


def queue_for_priority(priority: int) -> str:
    """The queue that serves a job of the seed's integer ``priority``."""
    if priority > 0:
        return QUEUE_HIGH
    if priority < 0:
        return QUEUE_LOW
    return QUEUE_NORMAL
