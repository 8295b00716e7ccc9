"""What the workflow editor shows of a definition - param rows, validation problems, DAG
levels - and its param edits. Validating a large workflow is CPU-bound, so the async
functions here run it in a worker process (services/offload.py) with the size limit checked
first; nothing here imports Reflex (the worker imports this module)."""

from __future__ import annotations

import json
from typing import Any

from agentic_app.domain.definition_text import check_definition_size, parse_definition_text
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.workflow import (
    DEFAULT_LIMITS,
    WorkflowLimits,
    WorkflowSpec,
    WorkflowValidationError,
)
from agentic_app.services.offload import run_cpu
from agentic_app.services.workflows import levels_view, validate_definition

Rows = list[dict[str, str]]
EditorView = tuple[Rows | None, Rows, list[Rows]]
"""Param rows (None: the definition is no object), problems, nodes by parallel level."""


def _param_rows(definition: dict[str, Any]) -> Rows:
    rows = []
    for node in definition.get("nodes", []):
        if not isinstance(node, dict):
            continue
        for key, value in (node.get("params") or {}).items():
            rows.append({"node": str(node.get("id", "")), "type": str(node.get("type", "")),
                         "key": str(key),
                         "value": value if isinstance(value, str) else json.dumps(value)})
    return rows


def analyse(definition: Any, limits: WorkflowLimits = DEFAULT_LIMITS) -> EditorView:
    """The editor's view of a parsed definition (blocking, CPU-bound when large)."""
    params = _param_rows(definition) if isinstance(definition, dict) else None
    try:
        return params, [], levels_view(validate_definition(definition, limits))
    except WorkflowValidationError as exc:
        problems = [{"field": p.field or "", "node": p.node_id or "", "message": p.message}
                    for p in exc.problems]
    try:
        levels = levels_view(WorkflowSpec.model_validate(definition))
    except Exception:  # structure too broken to draw
        levels = []
    return params, problems, levels


def with_param(text: str, node_id: str, key: str, value: str,
               limits: WorkflowLimits = DEFAULT_LIMITS) -> tuple[str, dict[str, Any]]:
    """Definition ``text`` with one node param set (``value`` as JSON when it parses, else as
    text): (new text, definition). InvalidInputError when ``text`` is no JSON object or the
    result is over the size limit (blocking)."""
    definition = parse_definition_text(text, limits.max_definition_bytes)
    if not isinstance(definition, dict):
        raise InvalidInputError("the definition must be a JSON object", field="definition")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    for node in definition.get("nodes", []):
        if isinstance(node, dict) and node.get("id") == node_id:
            node.setdefault("params", {})[key] = parsed
    new_text = json.dumps(definition, indent=2)
    check_definition_size(new_text, limits.max_definition_bytes)
    return new_text, definition


# In the worker process: errors come back as text (exceptions with keyword-only fields do
# not survive pickling).
def _text_view(text: str, limits: WorkflowLimits) -> tuple[str | None, EditorView | None]:
    try:
        return None, analyse(parse_definition_text(text, limits.max_definition_bytes), limits)
    except InvalidInputError as exc:
        return exc.message, None


def _param_view(text: str, node_id: str, key: str, value: str,
                limits: WorkflowLimits) -> tuple[str | None, tuple[str, EditorView] | None]:
    try:
        new_text, definition = with_param(text, node_id, key, value, limits)
    except InvalidInputError as exc:
        return exc.message, None
    return None, (new_text, analyse(definition, limits))


async def view_of_text(text: str, limits: WorkflowLimits = DEFAULT_LIMITS) -> EditorView:
    """The view of definition JSON ``text``; InvalidInputError (field ``definition``) when it
    is over the size limit (checked here, before anything is sent) or no valid JSON."""
    check_definition_size(text, limits.max_definition_bytes)
    error, view = await run_cpu(_text_view, text, limits)
    if error is not None:
        raise InvalidInputError(error, field="definition")
    return view


async def view_of_definition(definition: dict[str, Any],
                             limits: WorkflowLimits = DEFAULT_LIMITS) -> EditorView:
    """The view of a stored definition."""
    return await run_cpu(analyse, definition, limits)


async def view_with_param(text: str, node_id: str, key: str, value: str,
                          limits: WorkflowLimits = DEFAULT_LIMITS) -> tuple[str, EditorView]:
    """(new text, its view) after setting one node param; InvalidInputError (field
    ``definition``) when the text is no JSON object or the result is over the size limit."""
    check_definition_size(text, limits.max_definition_bytes)
    error, result = await run_cpu(_param_view, text, node_id, key, value, limits)
    if error is not None:
        raise InvalidInputError(error, field="definition")
    return result


class EditorService:
    """The editor's analyses for the front ends (``app.editor``) within the configured size
    caps; each runs in a worker process, never on the event loop."""

    def __init__(self, limits: WorkflowLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    async def view_of_text(self, text: str) -> EditorView:
        """:func:`view_of_text` within this service's limits."""
        return await view_of_text(text, self.limits)

    async def view_of_definition(self, definition: dict[str, Any]) -> EditorView:
        """:func:`view_of_definition` within this service's limits."""
        return await view_of_definition(definition, self.limits)

    async def view_with_param(self, text: str, node_id: str, key: str,
                              value: str) -> tuple[str, EditorView]:
        """:func:`view_with_param` within this service's limits."""
        return await view_with_param(text, node_id, key, value, self.limits)
