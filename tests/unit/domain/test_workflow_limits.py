"""Tests of the workflow size limits and of the linear graph algorithms (domain.graph)."""

from __future__ import annotations

import graphlib
import itertools
import json

import pytest

from agentic_app.domain.definition_text import parse_definition_text
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.graph import cycle_through, longest_path_levels, strong_components
from agentic_app.domain.workflow import (
    MAX_DEFINITION_BYTES,
    MAX_EDGES,
    MAX_NAME_LENGTH,
    MAX_NODES,
    WorkflowSpec,
    WorkflowValidationError,
    check_workflow_fields,
    validate_workflow,
)
from tests.unit.domain.test_workflow import CATALOG


def _nodes(n: int) -> list[dict]:
    return [{"id": f"n{i}", "type": "echo"} for i in range(n)]


def test_many_two_node_cycles_each_reported_once():
    """250 disjoint two-node cycles (the quadratic case of the old check) give 250 problems,
    each naming its pair in edge order."""
    nodes = _nodes(MAX_NODES)
    edges = [e for i in range(0, MAX_NODES, 2)
             for e in ({"from": f"n{i}", "to": f"n{i + 1}"}, {"from": f"n{i + 1}", "to": f"n{i}"})]
    with pytest.raises(WorkflowValidationError) as err:
        validate_workflow({"nodes": nodes, "edges": edges}, CATALOG)
    cycles = [p.node_ids for p in err.value.problems if p.code == "cycle"]
    assert len(cycles) == MAX_NODES // 2
    for ids in cycles:
        assert len(ids) == 3 and ids[0] == ids[-1]
        a, b = int(ids[0][1:]), int(ids[1][1:])
        assert {a, b} == {a - a % 2, a - a % 2 + 1}


def test_one_cycle_per_component_inside_a_large_strongly_connected_graph():
    """A ring with chords is one component: one cycle reported, and it is a real cycle."""
    succs = {f"n{i}": {f"n{(i + 1) % 50}": None, f"n{(i + 7) % 50}": None} for i in range(50)}
    comps = strong_components(succs)
    assert len(comps) == 1 and len(comps[0]) == 50
    cycle = cycle_through(comps[0][0], set(comps[0]), succs)
    assert cycle[0] == cycle[-1]
    for a, b in itertools.pairwise(cycle):
        assert b in succs[a]


def test_deep_chain_needs_no_recursion():
    """A 5,000-node chain: components and levels are computed without recursion limits."""
    ids = [f"n{i}" for i in range(5000)]
    succs = {a: {b: None} for a, b in itertools.pairwise(ids)} | {ids[-1]: {}}
    assert len(strong_components(succs)) == 5000
    preds = {b: [a] for a, b in itertools.pairwise(ids)}
    levels = longest_path_levels(ids, preds, {k: list(v) for k, v in succs.items()})
    assert [lv[0] for lv in levels] == ids


def test_levels_raise_on_a_cycle():
    """Levels of a cyclic graph raise CycleError instead of looping."""
    with pytest.raises(graphlib.CycleError):
        longest_path_levels(["a", "b"], {"a": ["b"], "b": ["a"]}, {"a": ["b"], "b": ["a"]})


def test_graph_helpers_on_a_hub():
    """A hub with many edges: neighbours are distinct and in declaration order."""
    spec = WorkflowSpec.model_validate(
        {"nodes": _nodes(300), "edges": [{"from": "n0", "to": f"n{i}"} for i in range(1, 300)]})
    assert spec.downstream("n0") == [f"n{i}" for i in range(1, 300)]
    assert spec.upstream("n5") == ["n0"] and spec.ancestors("n5") == {"n0"}
    assert len(spec.downstream_closure("n0")) == 299
    assert [len(level) for level in spec.parallel_levels()] == [1, 299]


def test_node_and_edge_counts_capped_with_field():
    """More than MAX_NODES nodes or MAX_EDGES edges is a problem naming the field."""
    with pytest.raises(WorkflowValidationError) as err:
        validate_workflow({"nodes": _nodes(MAX_NODES + 1)}, CATALOG)
    assert err.value.problems[0].field == "nodes"
    edges = [{"from": "n0", "to": "n1"}] * (MAX_EDGES + 1)
    with pytest.raises(WorkflowValidationError) as err:
        validate_workflow({"nodes": _nodes(2), "edges": edges}, CATALOG)
    assert err.value.problems[0].field == "edges"


def test_definition_text_capped_before_parsing():
    """A definition text over MAX_DEFINITION_BYTES is refused (field 'definition'); bad JSON
    names the line and column; a good one parses."""
    big = json.dumps({"nodes": [], "pad": "x" * MAX_DEFINITION_BYTES})
    with pytest.raises(InvalidInputError) as err:
        parse_definition_text(big)
    assert err.value.field == "definition" and "larger than" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        parse_definition_text('{"nodes": [')
    assert err.value.field == "definition" and "line 1" in str(err.value)
    assert parse_definition_text('{"nodes": []}') == {"nodes": []}
    multibyte = '"' + "é" * (MAX_DEFINITION_BYTES // 2 + 1) + '"'  # few chars, many bytes
    with pytest.raises(InvalidInputError):
        parse_definition_text(multibyte)


def test_name_and_description_limits():
    """Name 1..MAX_NAME_LENGTH (not blank) and description length are checked by field."""
    check_workflow_fields(name="ok", description="")
    for bad in ("", "   ", "x" * (MAX_NAME_LENGTH + 1)):
        with pytest.raises(InvalidInputError) as err:
            check_workflow_fields(name=bad)
        assert err.value.field == "name"
    with pytest.raises(InvalidInputError) as err:
        check_workflow_fields(description="x" * 5000)
    assert err.value.field == "description"
