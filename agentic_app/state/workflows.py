"""Workflows page state: list, create from a template, edit (params form + JSON with inline
validation problems), DAG picture and run now."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

from agentic_app import routes
from agentic_app.domain.errors import AgenticError
from agentic_app.domain.templates import TEMPLATES, get_template
from agentic_app.domain.workflow import WorkflowSpec, WorkflowValidationError
from agentic_app.services import workflows as workflow_service
from agentic_app.state.base import AppState
from agentic_app.state.common import (
    PAGE_SIZE,
    error_text,
    last_path_int,
    redis_client,
    settings,
)
from agentic_app.state.paging import PagedMixin
from agentic_app.state.scheduler import unique_name

TEMPLATE_NAMES = list(TEMPLATES)


class WorkflowsState(PagedMixin, AppState):
    """The user's workflows (list page)."""

    def _reload(self):
        return WorkflowsState.load_workflows

    rows: list[dict[str, str]] = []
    loaded: bool = False
    error: str = ""
    template: str = TEMPLATE_NAMES[0]
    new_name: str = ""

    @rx.event
    def load_workflows(self):
        """Load a page of the logged-in user's workflows (ownership checked on the server)."""
        if not self._resolve():
            return
        try:
            rows, self.total = workflow_service.search_workflows(
                user_id=self.user_id, offset=(self.page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        except AgenticError as exc:
            self.error, self.loaded = error_text(exc), True
            return
        self.rows = [
            {"id": str(wf.id), "name": wf.name, "description": wf.description,
             "nodes": str(len(wf.definition.get("nodes", []))), "version": str(wf.version),
             "active": "yes" if wf.is_active else "no",
             "updated": wf.updated_at.strftime("%Y-%m-%d %H:%M UTC")}
            for wf in rows
        ]
        self.error, self.loaded = "", True

    @rx.event
    def set_template(self, value: str):
        """Pick the template to create from."""
        self.template = value

    @rx.event
    def set_new_name(self, value: str):
        """Name of the workflow to create."""
        self.new_name = value

    @rx.event
    def create_from_template(self):
        """Create a workflow from the chosen template and open its editor."""
        if not self._resolve():
            return
        tpl = get_template(self.template)
        try:
            taken = {w.name for w in workflow_service.list_workflows(user_id=self.user_id)}
            wf = workflow_service.create_workflow(
                user_id=self.user_id, name=unique_name(self.new_name.strip() or tpl["name"], taken),
                definition=tpl["definition"], description=tpl["description"])
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.new_name = ""
        return rx.redirect(f"{routes.WORKFLOWS}/{wf.id}")

    @rx.event
    def run_now(self, workflow_id: str):
        """Enqueue a manual execution and open its live monitor."""
        if not self._resolve():
            return
        try:
            job = workflow_service.run_now(settings(), user_id=self.user_id,
                                           workflow_id=int(workflow_id),
                                           redis=redis_client(),
                                           trigger_payload={"source": "ui"})
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        return rx.redirect(f"{routes.MONITOR}/{job.execution_id}")


class WorkflowEditState(AppState):
    """One workflow in the editor (``/workflows/[workflow_id]``)."""

    workflow_id: int = 0
    name: str = ""
    description: str = ""
    version: str = ""
    definition_text: str = ""
    params: list[dict[str, str]] = []
    problems: list[dict[str, str]] = []
    levels: list[list[dict[str, str]]] = []
    error: str = ""
    loaded: bool = False
    dirty: bool = False

    def _param_rows(self, definition: dict[str, Any]) -> list[dict[str, str]]:
        rows = []
        for node in definition.get("nodes", []):
            for key, value in (node.get("params") or {}).items():
                rows.append({"node": node.get("id", ""), "type": node.get("type", ""),
                             "key": key, "value": value if isinstance(value, str)
                             else json.dumps(value)})
        return rows

    def _check(self, definition: Any) -> None:
        try:
            spec = workflow_service.validate_definition(definition)
            self.problems = []
            self.levels = [[{"id": n, "type": spec.node(n).type} for n in sorted(level)]
                           for level in spec.parallel_levels()]
        except WorkflowValidationError as exc:
            self.problems = [{"field": p.field or "", "node": p.node_id or "",
                              "message": p.message} for p in exc.problems]
            try:
                spec = WorkflowSpec.model_validate(definition)
                self.levels = [[{"id": n, "type": spec.node(n).type} for n in sorted(level)]
                               for level in spec.parallel_levels()]
            except Exception:  # structure too broken to draw
                self.levels = []

    @rx.event
    def load_workflow(self):
        """Load one of the user's workflows into the editor."""
        if not self._resolve():
            return
        try:
            self.workflow_id = last_path_int(self)
            wf = workflow_service.get_workflow(user_id=self.user_id,
                                               workflow_id=self.workflow_id)
        except (AgenticError, ValueError) as exc:
            self.error, self.loaded = str(getattr(exc, "message", exc)), True
            return
        self.name, self.description, self.version = wf.name, wf.description, str(wf.version)
        self.definition_text = json.dumps(wf.definition, indent=2)
        self.params = self._param_rows(wf.definition)
        self._check(wf.definition)
        self.error, self.loaded, self.dirty = "", True, False

    @rx.event
    def set_name(self, value: str):
        """Rename (saved with Save)."""
        self.name, self.dirty = value, True

    @rx.event
    def set_definition_text(self, value: str):
        """Edit the JSON; problems are shown inline as you type."""
        self.definition_text, self.dirty = value, True
        try:
            definition = json.loads(value)
        except json.JSONDecodeError as exc:
            self.problems = [{"field": f"line {exc.lineno}, column {exc.colno}", "node": "",
                              "message": f"JSON: {exc.msg}"}]
            return
        if isinstance(definition, dict):
            self.params = self._param_rows(definition)
        self._check(definition)

    @rx.event
    def set_param(self, node_id: str, key: str, value: str):
        """Edit one node param in the form (JSON values accepted, else text)."""
        try:
            definition = json.loads(self.definition_text)
        except json.JSONDecodeError:
            return rx.toast.error("Fix the JSON first")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        for node in definition.get("nodes", []):
            if node.get("id") == node_id:
                node.setdefault("params", {})[key] = parsed
        self.definition_text = json.dumps(definition, indent=2)
        self.params = self._param_rows(definition)
        self.dirty = True
        self._check(definition)

    @rx.event
    def save(self):
        """Validate and save (a changed definition bumps the version)."""
        if not self._resolve():
            return
        try:
            definition = json.loads(self.definition_text)
            wf = workflow_service.update_workflow(user_id=self.user_id,
                                                  workflow_id=self.workflow_id,
                                                  name=self.name.strip() or None,
                                                  definition=definition)
        except json.JSONDecodeError as exc:
            return rx.toast.error(f"JSON: {exc.msg}")
        except WorkflowValidationError as exc:
            self._check(json.loads(self.definition_text))
            return rx.toast.error(error_text(exc))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.version, self.dirty = str(wf.version), False
        return rx.toast.success(f"Saved (version {wf.version})")

    @rx.event
    def run_now(self):
        """Run the saved workflow now and open the monitor."""
        return WorkflowsState.run_now(str(self.workflow_id))
