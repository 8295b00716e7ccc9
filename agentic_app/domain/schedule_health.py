"""What a schedule's record says about it: why a fire time did not run, and its health.

One place for both, used by the scheduler (which records the reasons), the schedule service
(history, views, metrics) and later by alerts and the data-stale check:

* :data:`REASONS` - every reason a fire time did not run, with its kind: ``missed`` (the
  scheduler was down or stalled) or ``skipped`` (it was up and decided not to run it).
  Failed runs are executions that ran and failed (``failed``).
* :func:`schedule_health` - the badge of a schedule (``healthy``, ``failing``,
  ``invalid_config``, ``auto_paused``, ``paused``, ``data_stale``) with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RunKind = Literal["run", "missed", "skipped", "failed"]
HealthStatus = Literal["healthy", "failing", "invalid_config", "auto_paused", "paused",
                       "data_stale"]

MARKET_CLOSED = "market_closed"
"""Reason of a fire outside its trigger's trading session (``domain.triggers.session``)."""
REASONS: dict[str, tuple[Literal["missed", "skipped"], str]] = {
    "downtime": ("missed", "the scheduler was not running at the fire time"),
    "misfire": ("missed", "the scheduler could not run it within the misfire grace time"),
    "overlap": ("skipped", "the previous execution was still running (overlap policy)"),
    "skip": ("skipped", "skipped on request (skip next runs)"),
    "limit": ("skipped", "a per-user limit was reached"),
    "paused": ("skipped", "the schedule was paused"),
    MARKET_CLOSED: ("skipped", "the market was closed"),
    "refused": ("skipped", "the run was refused (workflow inactive or deleted)"),
}
"""Reason of a missed_runs record -> (kind, what it means)."""
HEALTH_STATUSES: tuple[HealthStatus, ...] = ("healthy", "failing", "invalid_config",
                                             "auto_paused", "paused", "data_stale")
USER_PAUSE_REASON = "paused by user"
"""``paused_reason`` of a schedule the user paused (any other reason is an auto-pause)."""
INVALID_CONFIG_PREFIX = "invalid config"
"""Start of a ``config_error`` the trigger model refused (as the scheduler stores it)."""
DATA_STALE_PREFIX = "data stale"
"""Start of the ``config_error`` of a schedule whose market data is stale or missing (the
watcher stores it, ``engine.scheduler.data_health``; the badge reads it)."""
MAX_SKIP_NEXT = 1000
"""Most upcoming runs a user may ask to skip at once."""
MAX_PAUSE_NOTE_LENGTH = 500
"""Longest pause note."""


def reason_kind(reason: str) -> Literal["missed", "skipped"]:
    """``missed`` or ``skipped`` for a missed_runs reason (unknown reasons count as skipped)."""
    return REASONS.get(reason, ("skipped", ""))[0]


def is_user_pause(paused_reason: str | None) -> bool:
    """True when a paused schedule was paused by its user (not by the system)."""
    return bool(paused_reason) and str(paused_reason).startswith(USER_PAUSE_REASON)


@dataclass(frozen=True, slots=True)
class ScheduleHealth:
    """A schedule's badge and the reason shown with it (empty when healthy)."""

    status: HealthStatus
    reason: str = ""


def schedule_health(*, is_active: bool, paused_reason: str | None, config_error: str | None,
                    consecutive_failures: int, pause_note: str | None = None,
                    data_stale: str | None = None) -> ScheduleHealth:
    """The health of one schedule, first match wins:

    ``invalid_config`` (the scheduler cannot parse its config), ``auto_paused`` (paused by the
    system: failures, expiry, max fires - with that reason), ``paused`` (by its user, with the
    note), ``failing`` (its last executions failed, or evaluating/firing it fails),
    ``data_stale`` (``data_stale``: why its market data is stale, given by the caller),
    else ``healthy``.
    """
    if config_error and config_error.startswith(INVALID_CONFIG_PREFIX):
        return ScheduleHealth("invalid_config", config_error)
    if not is_active:
        if is_user_pause(paused_reason):
            return ScheduleHealth("paused", pause_note or "")
        return ScheduleHealth("auto_paused", paused_reason or "paused")
    if config_error and config_error.startswith(DATA_STALE_PREFIX):
        data_stale = data_stale or config_error
    elif config_error:
        return ScheduleHealth("failing", config_error)
    if consecutive_failures > 0:
        return ScheduleHealth("failing", f"the last {consecutive_failures} execution(s) failed")
    if data_stale:
        return ScheduleHealth("data_stale", data_stale)
    return ScheduleHealth("healthy")
