"""Node errors: any exception raised by node code mapped onto the AgenticError tree, and the
frames of finished nodes' exceptions released at once."""

from __future__ import annotations

import traceback
from concurrent.futures import Future

from pydantic import ValidationError

from agentic_app.domain.errors import (
    AgenticError,
    FatalError,
    InvalidInputError,
    MemoryLimitError,
    NodeTimeoutError,
)

TRACEBACK_FRAMES = 8
"""Innermost frames of an unexpected (non-AgenticError) exception's traceback written to the
server log (never to events)."""


def classify_error(exc: BaseException, *, memory_limit_mb: float | None = None) -> AgenticError:
    """Map any exception raised by node code onto the AgenticError tree."""
    if isinstance(exc, AgenticError):
        return exc
    if isinstance(exc, MemoryError):
        limit = f" of {memory_limit_mb:g} MB" if memory_limit_mb else ""
        detail = f" ({exc})" if str(exc) else ""
        return MemoryLimitError(f"out of memory: allocation past the memory limit{limit}{detail}")
    if isinstance(exc, TimeoutError):
        return NodeTimeoutError(f"timed out ({type(exc).__name__}: {exc})")
    if isinstance(exc, ValidationError):
        errs = exc.errors()
        where = ".".join(str(p) for p in errs[0]["loc"]) if errs and errs[0]["loc"] else None
        return InvalidInputError(f"invalid input: {errs[0]['msg'] if errs else exc}", field=where)
    return FatalError(f"{type(exc).__name__}: {exc}")


def release_traceback(exc: BaseException | None, *, detach: bool = True) -> None:
    """Drop the locals of a finished node's frames (and, with ``detach``, the traceback), so
    a failed node's memory - e.g. chunks allocated before a MemoryError - is freed now, not
    at the next garbage collection."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
            if detach:
                exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def release_frames(future: Future) -> None:
    """Done-callback of node thread futures: free the locals of a raised exception's frames
    (also for nodes nobody awaits any more: timed out or cancelled)."""
    if not future.cancelled():
        release_traceback(future.exception(), detach=False)
