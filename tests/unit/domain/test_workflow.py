"""Tests of agentic_app.domain.workflow: parsing, every validation rule, graph helpers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.workflow import (
    WorkflowSpec,
    WorkflowValidationError,
    validate_workflow,
)


class _Info:
    """A node type as validation sees it (the NodeCatalog protocol's entries)."""

    def __init__(self, params: type[BaseModel], *, trigger: bool = False, branches=()):
        self.Params = params
        self.is_trigger = trigger
        self.branches = tuple(branches)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(_Strict):
    pass


class RsiParams(_Strict):
    period: int = Field(ge=2)
    source: str = "close"


class CondParams(_Strict):
    expression: str


class Catalog:
    """A tiny NodeCatalog: a trigger, a plain node, an indicator and a branching condition."""

    types = {
        "trigger": _Info(NoParams, trigger=True),
        "echo": _Info(NoParams),
        "rsi": _Info(RsiParams),
        "cond": _Info(CondParams, branches=("true", "false")),
    }

    def get(self, type_name: str) -> _Info | None:
        """The type or None."""
        return self.types.get(type_name)


CATALOG = Catalog()


def wf(nodes: list[tuple], edges: list[tuple] = ()) -> dict[str, Any]:
    """Build workflow JSON from (id, type, params) and (from, to[, branch]) tuples."""
    return {
        "nodes": [{"id": n[0], "type": n[1], "params": n[2] if len(n) > 2 else {}} for n in nodes],
        "edges": [
            {"from": e[0], "to": e[1], **({"branch": e[2]} if len(e) > 2 else {})} for e in edges
        ],
    }


def problems(raw: dict) -> list:
    """The problems validate_workflow reports for ``raw``."""
    with pytest.raises(WorkflowValidationError) as info:
        validate_workflow(raw, CATALOG)
    return info.value.problems


def test_valid_workflow_parses_aliases_and_round_trips():
    """A valid workflow validates; JSON uses from/to and round-trips through to_dict."""
    raw = wf(
        [("t", "trigger"), ("r", "rsi", {"period": 14}), ("c", "cond", {"expression": "x"})],
        [("t", "r"), ("r", "c")],
    )
    spec = validate_workflow(raw, CATALOG)
    assert spec.edges[0].source == "t" and spec.edges[0].target == "r"
    assert spec.to_dict()["edges"][0] == {"from": "t", "to": "r"}
    assert validate_workflow(spec.to_dict(), CATALOG) == spec


def test_cycle_reported_with_node_ids_in_order():
    """A cycle is reported with its node ids in edge order, closing on the first."""
    found = problems(
        wf([("a", "echo"), ("b", "echo"), ("c", "echo")], [("a", "b"), ("b", "c"), ("c", "a")])
    )
    assert [p.code for p in found] == ["cycle"]
    ids = list(found[0].node_ids)
    assert ids[0] == ids[-1] and set(ids) == {"a", "b", "c"} and len(ids) == 4
    for x, y in itertools.pairwise(ids):
        assert (x, y) in {("a", "b"), ("b", "c"), ("c", "a")}
    assert " -> ".join(ids) in found[0].message


def test_two_disjoint_cycles_and_self_loop_all_reported():
    """Every cycle is listed, including a self-loop."""
    found = problems(
        wf([("a", "echo"), ("b", "echo"), ("c", "echo")], [("a", "b"), ("b", "a"), ("c", "c")])
    )
    cycles = sorted(tuple(sorted(set(p.node_ids))) for p in found if p.code == "cycle")
    assert cycles == [("a", "b"), ("c",)]


def test_unknown_node_type_names_node_and_field():
    """An unknown type is reported with the node id and the field path."""
    (p,) = problems(wf([("a", "echo"), ("b", "nope")]))
    assert p.code == "unknown_node_type" and p.node_id == "b" and p.field == "nodes[1].type"
    assert "'nope'" in p.message


def test_missing_param_names_node_and_param():
    """A missing required param names the node id and the param."""
    (p,) = problems(wf([("rsi1", "rsi", {})]))
    assert p.code == "missing_param" and p.node_id == "rsi1"
    assert p.field == "nodes[0].params.period" and "'period'" in p.message


def test_ill_typed_param_names_node_and_param():
    """An ill-typed or out-of-range param names the node id and the param."""
    found = problems(
        wf([("x", "echo"), ("r", "rsi", {"period": "fourteen"}), ("s", "rsi", {"period": 1})])
    )
    assert [(p.code, p.node_id, p.field) for p in found] == [
        ("invalid_param", "r", "nodes[1].params.period"),
        ("invalid_param", "s", "nodes[2].params.period"),
    ]
    assert "'fourteen'" in found[0].message


def test_unknown_param_and_common_params():
    """Unknown params are refused; timeout_seconds and join are accepted on any node."""
    (p,) = problems(wf([("r", "rsi", {"period": 14, "perod": 3})]))
    assert p.code == "unknown_param" and p.field == "nodes[0].params.perod"
    validate_workflow(
        wf([("r", "rsi", {"period": 14, "timeout_seconds": 5, "join": "any"})]), CATALOG
    )
    found = problems(wf([("r", "rsi", {"period": 14, "timeout_seconds": -1, "join": "some"})]))
    assert [p.field for p in found] == ["nodes[0].params.timeout_seconds", "nodes[0].params.join"]


def test_edge_to_missing_node():
    """An edge to or from a missing node names the edge end."""
    found = problems(wf([("a", "echo")], [("a", "ghost"), ("phantom", "a")]))
    assert [(p.code, p.field, p.node_id) for p in found] == [
        ("edge_missing_node", "edges[0].to", "ghost"),
        ("edge_missing_node", "edges[1].from", "phantom"),
    ]


def test_duplicate_node_ids_and_edges():
    """Duplicate node ids and repeated edges are reported."""
    found = problems(wf([("a", "echo"), ("b", "echo"), ("a", "echo")], [("a", "b"), ("a", "b")]))
    assert [(p.code, p.field) for p in found] == [
        ("duplicate_node_id", "nodes[2].id"),
        ("duplicate_edge", "edges[1]"),
    ]


def test_more_than_one_trigger():
    """Two trigger nodes are refused, naming both."""
    found = problems(
        wf([("t1", "trigger"), ("t2", "trigger"), ("e", "echo")], [("t1", "e"), ("t2", "e")])
    )
    assert [p.code for p in found] == ["multiple_triggers"]
    assert found[0].node_ids == ("t1", "t2")


def test_trigger_must_be_entry_node():
    """A trigger with an incoming edge is refused."""
    (p,) = problems(wf([("e", "echo"), ("t", "trigger")], [("e", "t")]))
    assert p.code == "trigger_has_input" and p.node_id == "t"


def test_bad_branch_labels():
    """A branch label on a non-branching node, or an unknown label, is refused."""
    found = problems(
        wf(
            [("e", "echo"), ("c", "cond", {"expression": "1"}), ("x", "echo"), ("y", "echo")],
            [("e", "c", "true"), ("c", "x", "maybe"), ("c", "y", "false")],
        )
    )
    assert [(p.code, p.field, p.node_id) for p in found] == [
        ("branch_not_allowed", "edges[0].branch", "e"),
        ("unknown_branch", "edges[1].branch", "c"),
    ]


def test_all_problems_listed_at_once_in_an_invalid_input_error():
    """Several problems are reported together in one InvalidInputError with a combined message."""
    with pytest.raises(InvalidInputError) as info:
        validate_workflow(wf([("a", "nope"), ("r", "rsi")], [("a", "zz")]), CATALOG)
    err = info.value
    assert isinstance(err, WorkflowValidationError) and len(err.problems) == 3
    assert err.message.startswith("3 problems") and err.field == "nodes[0].type"
    assert [p["code"] for p in err.to_dict()["problems"]] == [
        "unknown_node_type",
        "missing_param",
        "edge_missing_node",
    ]


def test_malformed_json_shape_and_bad_ids():
    """Shape errors (missing keys, bad id) come back with field paths; no nodes is refused."""
    found = problems(
        {"nodes": [{"type": "echo"}, {"id": "9bad", "type": "echo"}], "edges": [{"from": "a"}]}
    )
    assert {p.field for p in found} == {"nodes[0].id", "nodes[1].id", "edges[0].to"}
    assert [p.code for p in problems({"nodes": []})] == ["empty_workflow"]


def _diamond() -> WorkflowSpec:
    raw = wf(
        [("a", "echo"), ("b", "echo"), ("c", "echo"), ("d", "echo"), ("e", "echo")],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "e")],
    )
    return validate_workflow(raw, CATALOG)


def test_topological_order_and_parallel_levels():
    """Topological order respects edges (ties in declaration order); levels group by depth."""
    spec = _diamond()
    order = spec.topological_order()
    assert order == ["a", "b", "c", "e", "d"]
    assert spec.parallel_levels() == [{"a"}, {"b", "c", "e"}, {"d"}]


def test_upstream_downstream_and_trigger_helpers():
    """upstream/downstream_closure/ancestors/trigger_node answer from the edges."""
    spec = _diamond()
    assert spec.upstream("d") == ["b", "c"]
    assert spec.downstream_closure("b") == {"d"}
    assert spec.downstream_closure("a") == {"b", "c", "d", "e"}
    assert spec.ancestors("d") == {"a", "b", "c"}
    assert spec.trigger_node(CATALOG) is None
    with_trigger = validate_workflow(wf([("t", "trigger"), ("e", "echo")], [("t", "e")]), CATALOG)
    assert with_trigger.trigger_node(CATALOG).id == "t"
