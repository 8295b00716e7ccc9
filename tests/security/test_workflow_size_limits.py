"""Workflow size caps come from the settings (WORKFLOWS max_nodes / max_edges /
max_definition_bytes) on every path through the facade: the REST API refuses a larger
workflow with 422 naming the field and stores nothing, and the editor's analyses (the UI's
path) refuse the same text."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.settings import SettingsError, load_settings
from tests.api.conftest import API, ApiEnv


def _chain(n: int, message: str = "hi") -> dict:
    nodes = [{"id": f"n{i}", "type": "log", "params": {"message": message}} for i in range(n)]
    edges = [{"from": f"n{i}", "to": f"n{i + 1}"} for i in range(n - 1)]
    return {"nodes": nodes, "edges": edges}


def test_rest_refuses_workflows_over_the_configured_caps(sqlite_db_url, redis_url):
    """Caps 3 nodes / 1 edge / 2 KiB: 4 nodes -> 422 on nodes; 3 nodes with 2 edges -> 422 on
    edges; a 3 KiB definition -> 422 on definition; on create and update; nothing stored."""
    env = ApiEnv(sqlite_db_url, redis_url, workflows={
        "max_nodes": 3, "max_edges": 1, "max_definition_bytes": 2048})
    _, alice = env.user("alice")
    c = env.client
    for definition, field in ((_chain(4), "nodes"), (_chain(3), "edges"),
                              (_chain(2, "x" * 3000), "definition")):
        resp = c.post(f"{API}/workflows", headers=alice,
                      json={"name": "big", "definition": definition})
        assert resp.status_code == 422, resp.text
        assert resp.json()["field"] == field, resp.json()
    assert c.get(f"{API}/workflows", headers=alice).json()["total"] == 0
    ok = c.post(f"{API}/workflows", headers=alice, json={"name": "ok", "definition": _chain(2)})
    assert ok.status_code == 201, ok.text
    upd = c.put(f"{API}/workflows/{ok.json()['id']}", headers=alice,
                json={"definition": _chain(4)})
    assert upd.status_code == 422 and upd.json()["field"] == "nodes"
    assert c.get(f"{API}/workflows/{ok.json()['id']}", headers=alice).json()["version"] == 1


def test_editor_path_uses_the_same_caps(sqlite_db_url, redis_url):
    """The editor's analysis of typed text reports the node cap as a problem and refuses
    text over the byte cap."""
    env = ApiEnv(sqlite_db_url, redis_url, workflows={"max_nodes": 3,
                                                      "max_definition_bytes": 2048})
    editor = env.services.editor
    _, problems, _ = asyncio.run(editor.view_of_text(json.dumps(_chain(4))))
    assert problems and problems[0]["field"] == "nodes"
    with pytest.raises(InvalidInputError, match="larger than 2048 bytes"):
        asyncio.run(editor.view_of_text(json.dumps(_chain(2, "x" * 3000))))


def test_caps_cannot_exceed_the_domain_ceilings(tmp_path):
    """Settings may lower the caps, not raise them past the domain's ceilings."""
    with pytest.raises(SettingsError, match=r"WORKFLOWS\.MAX_NODES"):
        load_settings(data_dir=tmp_path, workflows={"max_nodes": 100000})
