"""The workflow editor's view of a definition: size refused before any work, the CPU-bound
validation in a worker process, and param edits that keep to the size limit."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.workflow import MAX_DEFINITION_BYTES
from agentic_app.services import editor, offload

FLOW = {"nodes": [{"id": "a", "type": "log", "params": {"message": "hi"}},
                  {"id": "b", "type": "log", "params": {"message": "there"}}],
        "edges": [{"from": "a", "to": "b"}]}


def test_oversized_text_refused_before_any_work(monkeypatch) -> None:
    """Text over MAX_DEFINITION_BYTES is refused with the limit named; nothing is sent to a
    worker process."""
    def no_worker(*args):
        raise AssertionError("sent to a worker")

    monkeypatch.setattr(editor, "run_cpu", no_worker)
    text = json.dumps({"nodes": [], "pad": "x" * MAX_DEFINITION_BYTES})
    with pytest.raises(InvalidInputError, match=f"larger than {MAX_DEFINITION_BYTES} bytes"):
        asyncio.run(editor.view_of_text(text))
    with pytest.raises(InvalidInputError, match="larger than"):
        asyncio.run(editor.view_with_param(text, "a", "message", "x"))


def test_view_computed_in_a_worker_process() -> None:
    """The view comes back from another process: params, no problems, levels; bad JSON is a
    clear InvalidInputError on the definition field."""
    async def scenario():
        worker_pid = await offload.run_cpu(os.getpid)
        view = await editor.view_of_text(json.dumps(FLOW))
        with pytest.raises(InvalidInputError, match="not valid JSON") as bad:
            await editor.view_of_text("{nope")
        return worker_pid, view, bad.value

    worker_pid, (params, problems, levels), bad = asyncio.run(scenario())
    assert worker_pid != os.getpid()
    assert [r["value"] for r in params] == ["hi", "there"]
    assert problems == []
    assert [[n["id"] for n in level] for level in levels] == [["a"], ["b"]]
    assert bad.field == "definition"


def test_invalid_definition_lists_problems_and_still_draws() -> None:
    """An unknown node type is a problem on its node; the graph is still drawn."""
    flow = {**FLOW, "nodes": [*FLOW["nodes"], {"id": "c", "type": "nope"}]}
    params, problems, levels = editor.analyse(flow)
    assert len(params) == 2
    assert [p["node"] for p in problems] == ["c"]
    assert sorted(n["id"] for n in levels[0]) == ["a", "c"]


def test_param_edit_keeps_to_the_size_limit() -> None:
    """Setting a param rewrites the text; a value that would push it over the limit is
    refused."""
    text, definition = editor.with_param(json.dumps(FLOW), "b", "level", '"error"')
    assert definition["nodes"][1]["params"] == {"message": "there", "level": "error"}
    assert json.loads(text) == definition
    with pytest.raises(InvalidInputError, match="larger than"):
        editor.with_param(text, "b", "message", "y" * MAX_DEFINITION_BYTES)
    with pytest.raises(InvalidInputError, match="JSON object"):
        editor.with_param("[1]", "b", "message", "x")
