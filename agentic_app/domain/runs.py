"""What one attempt of an execution runs for: the facts the queue's claimed attempt and the
executor's run options share (each defined once here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunSubject:
    """The execution, its owner and workflow, the attempt number and the trigger's payload."""

    execution_id: int | str
    user_id: int | None
    workflow_id: int | None
    attempt: int
    trigger_payload: dict[str, Any]
