"""Workflows page state: list, create from a template, edit (params form + JSON with inline
validation problems), DAG picture and run now."""

from __future__ import annotations

import asyncio
import json

import reflex as rx

from agentic_app import routes
from agentic_app.domain.definition_text import check_definition_size, parse_definition_text
from agentic_app.domain.errors import AgenticError, InvalidInputError
from agentic_app.domain.templates import TEMPLATES
from agentic_app.domain.workflow import (
    WorkflowValidationError,
    check_workflow_fields,
)
from agentic_app.services.app import EditorView
from agentic_app.state.base import AppState
from agentic_app.state.common import PAGE_SIZE, app, error_text, last_path_int
from agentic_app.state.offloop import off_loop
from agentic_app.state.paging import PagedMixin

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
    @off_loop
    def load_workflows(self):
        """Load a page of the logged-in user's workflows (ownership checked on the server)."""
        if not self._resolve():
            return
        try:
            rows, self.total = app().workflows.search(
                self._actor(), offset=(self.page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        except AgenticError as exc:
            self.error, self.loaded = error_text(exc), True
            return
        self.rows = [
            {"id": str(wf.id), "name": wf.name, "description": wf.description,
             "nodes": str(len(wf.definition.get("nodes", []))), "version": str(wf.version),
             "active": "yes" if wf.is_active else "no",
             "alert_only": "yes" if wf.alert_only else "",
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
    @off_loop
    def create_from_template(self):
        """Create a workflow from the chosen template and open its editor."""
        if not self._resolve():
            return
        try:
            wf = app().workflows.create_from_template(self._actor(), self.template,
                                                      name=self.new_name.strip())
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.new_name = ""
        return rx.redirect(f"{routes.WORKFLOWS}/{wf.id}")

    @rx.event
    @off_loop
    def run_now(self, workflow_id: str):
        """Enqueue a manual execution and open its live monitor."""
        if not self._resolve():
            return
        try:
            job = app().workflows.run_now(self._actor(), int(workflow_id),
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

    def _show(self, view: EditorView) -> None:
        """Put an analysed definition into the editor."""
        params, self.problems, self.levels = view
        if params is not None:
            self.params = params

    @rx.event
    async def load_workflow(self):
        """Load one of the user's workflows into the editor."""
        if not self._resolve():
            return
        try:
            self.workflow_id = last_path_int(self)
            wf = await asyncio.to_thread(app().workflows.get, self._actor(), self.workflow_id)
        except (AgenticError, ValueError) as exc:
            self.error, self.loaded = str(getattr(exc, "message", exc)), True
            return
        self.name, self.description, self.version = wf.name, wf.description, str(wf.version)
        self.definition_text = json.dumps(wf.definition, indent=2)
        self._show(await app().editor.view_of_definition(wf.definition))
        self.error, self.loaded, self.dirty = "", True, False

    @rx.event
    def set_name(self, value: str):
        """Rename (saved with Save); a name over the limit is refused."""
        try:
            check_workflow_fields(name=value if value.strip() else None)
        except InvalidInputError as exc:
            return rx.toast.error(error_text(exc))
        self.name, self.dirty = value, True

    @rx.event
    async def set_definition_text(self, value: str):
        """Edit the JSON; problems are shown inline as you type. Text over the size limit is
        refused before any work; parsing and validation run in a worker process."""
        try:
            check_definition_size(value)
        except InvalidInputError as exc:
            return rx.toast.error(error_text(exc))
        self.definition_text, self.dirty = value, True
        try:
            self._show(await app().editor.view_of_text(value))
        except InvalidInputError as exc:
            self.problems = [{"field": "definition", "node": "", "message": error_text(exc)}]

    @rx.event
    async def set_param(self, node_id: str, key: str, value: str):
        """Edit one node param in the form (JSON values accepted, else text); refused when
        the JSON does not parse or the result would be over the size limit."""
        try:
            text, view = await app().editor.view_with_param(self.definition_text, node_id, key,
                                                      value)
        except InvalidInputError as exc:
            return rx.toast.error(error_text(exc))
        self.definition_text, self.dirty = text, True
        self._show(view)

    @rx.event
    async def save(self):
        """Validate and save (a changed definition bumps the version), off the event loop."""
        if not self._resolve():
            return
        try:
            definition = await asyncio.to_thread(parse_definition_text, self.definition_text)
            wf = await asyncio.to_thread(
                app().workflows.update, self._actor(), self.workflow_id,
                name=self.name.strip() or None, definition=definition)
        except WorkflowValidationError as exc:
            self._show(await app().editor.view_of_definition(definition))
            return rx.toast.error(error_text(exc))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.version, self.dirty = str(wf.version), False
        return rx.toast.success(f"Saved (version {wf.version})")

    @rx.event
    def run_now(self):
        """Run the saved workflow now and open the monitor."""
        return WorkflowsState.run_now(str(self.workflow_id))

