"""The exception tree: every failure says whether retrying can help.

``AgenticError``
  ``RetryableError``   transient (timeouts, data feed unavailable): the queue retries it.
  ``FatalError``       retrying cannot help (bad params, condition error, limit hit in a node).
    ``InvalidInputError``  bad user input; the API turns it into a 4xx naming ``field``.
"""

from __future__ import annotations


class AgenticError(Exception):
    """Base of every error raised on purpose by agentic_app."""

    retryable: bool = False

    def __init__(self, message: str, *, field: str | None = None, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.position = position

    def to_dict(self) -> dict:
        """JSON-friendly form: type, message, and field/position when known."""
        out = {"type": type(self).__name__, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.position is not None:
            out["position"] = self.position
        return out


class RetryableError(AgenticError):
    """A transient failure; the same execution may succeed when retried."""

    retryable = True


class FatalError(AgenticError):
    """A failure that a retry would repeat."""


class InvalidInputError(FatalError):
    """Input that breaks a rule; ``field`` names what is wrong, ``position`` where (0-based)."""


class NotFoundError(InvalidInputError):
    """An id that does not exist or belongs to another user."""


class LimitExceededError(AgenticError):
    """A configured limit was hit (daily executions, queue size); ``limit`` names it."""

    def __init__(self, message: str, *, limit: str):
        super().__init__(message, field=limit)
        self.limit = limit


class NodeTimeoutError(RetryableError):
    """A node or the whole execution ran past its time budget."""


class MemoryLimitError(FatalError):
    """An execution allocated more memory than its limit."""


class MarketDataUnavailableError(RetryableError):
    """The market data feed could not answer (gap, outage, stale data)."""


class UnknownSymbolError(InvalidInputError):
    """A symbol the configured feed does not know."""


class ConditionError(InvalidInputError):
    """A condition expression that does not parse or cannot be evaluated; carries a position."""


class CancelledError(FatalError):
    """The execution was cancelled by its owner."""


class AuthenticationError(FatalError):
    """Missing or wrong credentials (bad webhook signature, bad token): HTTP 401."""


class ConflictError(InvalidInputError):
    """The request conflicts with current state (replayed delivery, paused job): HTTP 409."""


class PayloadTooLargeError(InvalidInputError):
    """A body over its size limit: HTTP 413."""


class ForbiddenError(AgenticError):
    """An authenticated user without the right to do this (e.g. not an admin): HTTP 403."""


class ServiceUnavailableError(AgenticError):
    """A dependency (Redis) is not reachable: HTTP 503."""
