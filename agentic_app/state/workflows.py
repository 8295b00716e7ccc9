"""Workflows page state."""

from __future__ import annotations

import reflex as rx

from agentic_app.services import workflows as workflow_service
from agentic_app.state.base import AppState


class WorkflowsState(AppState):
    """The user's workflows."""

    rows: list[dict] = []
    loaded: bool = False

    @rx.event
    def load_workflows(self):
        """Load the logged-in user's workflows (ownership checked on the server)."""
        if not self._resolve():
            return
        self.rows = [
            {"id": wf.id, "name": wf.name, "description": wf.description,
             "nodes": len(wf.definition.get("nodes", [])), "version": wf.version,
             "updated": wf.updated_at.strftime("%Y-%m-%d %H:%M UTC")}
            for wf in workflow_service.list_workflows(user_id=self.user_id)
        ]
        self.loaded = True
