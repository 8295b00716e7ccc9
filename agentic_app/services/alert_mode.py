"""Alert-only mode: switch it on or off for one of the user's schedules or workflows.

A run is alert-only when its schedule or its workflow has the flag at the moment the run is
created (the execution keeps that answer in ``workflow_executions.alert_only``); its order
nodes then record the order they would have placed and send it as an alert
(:mod:`agentic_app.broker.alert_only`) instead of trading.
"""

from __future__ import annotations

from agentic_app.db.models import ScheduledJob, Workflow, utcnow
from agentic_app.domain.errors import InvalidInputError
from agentic_app.services.base import Actor, Service


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"alert_only must be true or false, got {value!r}",
                                field="alert_only")
    return value


def _apply(session, row, value: object):
    """Set ``row.alert_only`` (and ``updated_at`` when it changes); the refreshed row."""
    flag = _flag(value)
    if row.alert_only != flag:
        row.alert_only = flag
        row.updated_at = utcnow()
    session.flush()
    session.refresh(row)
    return row


class AlertModeService(Service):
    """The alert-only flag of the acting user's schedules and workflows."""

    def set_schedule(self, actor: Actor, job_id: int, alert_only: bool) -> ScheduledJob:
        """Set a schedule's alert-only flag (its next runs follow; NotFoundError if not the
        user's)."""
        _flag(alert_only)
        with self.db.session() as s:
            return _apply(s, self._app.schedules.owned(s, actor, job_id), alert_only)

    def set_workflow(self, actor: Actor, workflow_id: int, alert_only: bool) -> Workflow:
        """Set a workflow's alert-only flag: every run of it, by any schedule or by hand, is
        alert-only while it is on (NotFoundError if not the user's)."""
        _flag(alert_only)
        with self.db.session() as s:
            return _apply(s, self._app.workflows.owned(s, actor, workflow_id), alert_only)
