"""Workflow definitions (a DAG of nodes as JSON), their validation and graph helpers.

JSON form::

    {"nodes": [{"id": "rsi", "type": "indicator.rsi", "params": {"period": 14}}],
     "edges": [{"from": "bars", "to": "rsi"}, {"from": "cond", "to": "buy", "branch": "true"}]}

Rules checked by :func:`validate_workflow` (every problem is reported, not just the first):

* node ids are unique identifiers (letters, digits, ``_``; not starting with a digit), so
  conditions can name them;
* every node type is known to the catalog and its params validate against the type's
  pydantic ``Params`` model (plus the common params ``timeout_seconds`` and ``join``);
* edges join existing nodes, at most one edge per (from, to) pair, and no cycles;
* at most one trigger node, and it has no incoming edge;
* a ``branch`` label only on edges leaving a branching node, and only one of its labels.
  An unlabelled edge from a branching node is followed whatever the branch taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.graph import (
    GraphIndex,
    cycle_through,
    longest_path_levels,
    reach,
    strong_components,
)

NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
"""Node ids are identifiers (max 100 chars) so condition expressions can refer to them."""

COMMON_PARAMS = ("timeout_seconds", "join")
"""Params every node accepts, whatever its type: see :data:`MAX_NODE_TIMEOUT_S` and join modes."""

MAX_NODE_TIMEOUT_S = 3600
"""Largest per-node ``timeout_seconds`` accepted."""

MAX_NODES = 500
"""Most nodes one workflow may have (every front end validates through this module)."""
MAX_EDGES = 2000
"""Most edges one workflow may have."""
MAX_DEFINITION_BYTES = 256 * 1024
"""Largest definition accepted, as UTF-8 JSON text: checked before it is parsed."""
MAX_NAME_LENGTH = 200
"""Longest workflow name."""
MAX_DESCRIPTION_LENGTH = 2000
"""Longest workflow description."""


@dataclass(frozen=True)
class WorkflowLimits:
    """The size caps a front end validates against: the ceilings above by default; the
    facade passes lower ones from the settings (``WORKFLOWS__*``)."""

    max_nodes: int = MAX_NODES
    max_edges: int = MAX_EDGES
    max_definition_bytes: int = MAX_DEFINITION_BYTES


DEFAULT_LIMITS = WorkflowLimits()
"""The ceilings themselves."""

JOIN_MODES = ("all", "any")
"""``join`` param: run when *all* incoming edges are live (default) or when *any* is."""


class NodeTypeInfo(Protocol):
    """What validation needs to know about a node type (a ``NodeType`` class satisfies it)."""

    Params: type[BaseModel]
    is_trigger: bool
    branches: tuple[str, ...]


class NodeCatalog(Protocol):
    """Looks node types up by name (``nodes.base.NodeRegistry`` satisfies it)."""

    def get(self, type_name: str) -> NodeTypeInfo | None:
        """The node type called ``type_name``, or None."""
        ...


class NodeSpec(BaseModel):
    """One node of a workflow: unique id, registered type name, params, optional label."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NODE_ID_PATTERN)
    type: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=200)


class EdgeSpec(BaseModel):
    """A directed edge ``from`` → ``to``; ``branch`` restricts it to one branch of ``from``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", min_length=1)
    target: str = Field(alias="to", min_length=1)
    branch: str | None = None


class WorkflowSpec(BaseModel):
    """A workflow definition with graph helpers (call them on a validated spec)."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[NodeSpec] = Field(max_length=MAX_NODES)
    edges: list[EdgeSpec] = Field(default_factory=list, max_length=MAX_EDGES)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``from``/``to`` keys, no null branch/name)."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def node(self, node_id: str) -> NodeSpec:
        """The node with this id; KeyError when there is none."""
        return self._graph.nodes[node_id]

    def node_ids(self) -> list[str]:
        """Node ids in declaration order."""
        return [n.id for n in self.nodes]

    def incoming(self, node_id: str) -> list[EdgeSpec]:
        """Edges that end at ``node_id``, in declaration order."""
        return list(self._graph.incoming.get(node_id, ()))

    def outgoing(self, node_id: str) -> list[EdgeSpec]:
        """Edges that start at ``node_id``, in declaration order."""
        return list(self._graph.outgoing.get(node_id, ()))

    def upstream(self, node_id: str) -> list[str]:
        """Direct predecessors of ``node_id`` (the nodes whose outputs it receives)."""
        return list(self._graph.preds.get(node_id, ()))

    def downstream(self, node_id: str) -> list[str]:
        """Direct successors of ``node_id``."""
        return list(self._graph.succs.get(node_id, ()))

    def downstream_closure(self, node_id: str) -> set[str]:
        """Every node reachable from ``node_id`` (excluding itself)."""
        return reach(node_id, self._graph.succs)

    def ancestors(self, node_id: str) -> set[str]:
        """Every node from which ``node_id`` is reachable (excluding itself)."""
        return reach(node_id, self._graph.preds)

    def topological_order(self) -> list[str]:
        """Node ids so that every edge goes forward; ties keep declaration order."""
        return [n for level in self._levels() for n in level]

    def parallel_levels(self) -> list[set[str]]:
        """Nodes grouped by longest distance from a root (for display; the executor has no
        level barrier)."""
        return [set(level) for level in self._levels()]

    def trigger_node(self, catalog: NodeCatalog) -> NodeSpec | None:
        """The trigger node (the entry of the run), or None when the workflow has none."""
        for node in self.nodes:
            info = catalog.get(node.type)
            if info is not None and info.is_trigger:
                return node
        return None

    @cached_property
    def _graph(self) -> GraphIndex:
        """Adjacency of a validated, unmodified spec, built once: every helper above is then
        linear in the nodes and edges it visits (the executor calls them once per node)."""
        return GraphIndex.of(self)

    def _levels(self) -> list[list[str]]:
        return longest_path_levels(self.node_ids(), self._graph.preds, self._graph.succs)


@dataclass(frozen=True)
class WorkflowProblem:
    """One thing wrong with a workflow: a code, a message, where (field path) and which nodes."""

    code: str
    message: str
    field: str | None = None
    node_id: str | None = None
    node_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.node_id is not None:
            out["node_id"] = self.node_id
        if self.node_ids:
            out["node_ids"] = list(self.node_ids)
        return out


class WorkflowValidationError(InvalidInputError):
    """A workflow that breaks one or more rules; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[WorkflowProblem]):
        self.problems = list(problems)
        first = self.problems[0]
        if len(self.problems) == 1:
            message = first.message
        else:
            message = f"{len(self.problems)} problems: " + "; ".join(
                p.message for p in self.problems
            )
        super().__init__(message, field=first.field)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form including every problem."""
        out = super().to_dict()
        out["problems"] = [p.to_dict() for p in self.problems]
        return out


def validate_workflow(spec: WorkflowSpec | Mapping[str, Any], catalog: NodeCatalog,
                      limits: WorkflowLimits = DEFAULT_LIMITS) -> WorkflowSpec:
    """Parse and check a workflow within ``limits`` (node and edge counts); raise
    :class:`WorkflowValidationError` listing every problem."""
    if isinstance(spec, WorkflowSpec):
        parsed = spec
    else:
        try:
            parsed = WorkflowSpec.model_validate(spec)
        except ValidationError as exc:
            raise WorkflowValidationError(_structure_problems(exc, spec)) from None
    problems: list[WorkflowProblem] = []
    if not parsed.nodes:
        problems.append(WorkflowProblem("empty_workflow", "workflow has no nodes", "nodes"))
    if len(parsed.nodes) > limits.max_nodes or len(parsed.edges) > limits.max_edges:
        raise WorkflowValidationError([WorkflowProblem(
            "too_large", f"workflow has {len(parsed.nodes)} nodes and {len(parsed.edges)} "
            f"edges; at most {limits.max_nodes} nodes and {limits.max_edges} edges are allowed",
            "nodes" if len(parsed.nodes) > limits.max_nodes else "edges")])
    known = _check_nodes(parsed, catalog, problems)
    _check_edges(parsed, known, problems)
    _check_cycles(parsed, known, problems)
    if problems:
        raise WorkflowValidationError(problems)
    return parsed


def check_workflow_fields(*, name: str | None = None, description: str | None = None) -> None:
    """The limits on a workflow's name and description, for every front end (UI, REST, CLI)."""
    if name is not None and not 1 <= len(name.strip()) <= MAX_NAME_LENGTH:
        raise InvalidInputError(f"name must be 1 to {MAX_NAME_LENGTH} characters", field="name")
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInputError(f"description is longer than {MAX_DESCRIPTION_LENGTH} "
                                "characters", field="description")


def split_common_params(
    params: Mapping[str, Any], model: type[BaseModel]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split raw params into (params for ``model``, common params the model does not declare)."""
    own: dict[str, Any] = {}
    common: dict[str, Any] = {}
    for key, value in params.items():
        if key in COMMON_PARAMS and key not in model.model_fields:
            common[key] = value
        else:
            own[key] = value
    return own, common


def _check_nodes(
    spec: WorkflowSpec, catalog: NodeCatalog, problems: list[WorkflowProblem]
) -> dict[str, NodeTypeInfo | None]:
    """Check ids, types, params and triggers; return id -> type info of the unique nodes."""
    known: dict[str, NodeTypeInfo | None] = {}
    triggers: list[str] = []
    for i, node in enumerate(spec.nodes):
        if node.id in known:
            problems.append(
                WorkflowProblem(
                    "duplicate_node_id",
                    f"duplicate node id {node.id!r}",
                    f"nodes[{i}].id",
                    node.id,
                )
            )
            continue
        info = catalog.get(node.type)
        known[node.id] = info
        if info is None:
            problems.append(
                WorkflowProblem(
                    "unknown_node_type",
                    f"node {node.id!r}: unknown node type {node.type!r}",
                    f"nodes[{i}].type",
                    node.id,
                )
            )
            continue
        if info.is_trigger:
            triggers.append(node.id)
        problems.extend(_param_problems(i, node, info))
    if len(triggers) > 1:
        problems.append(
            WorkflowProblem(
                "multiple_triggers",
                f"a workflow has at most one trigger node, found {len(triggers)}: "
                + ", ".join(triggers),
                "nodes",
                triggers[1],
                tuple(triggers),
            )
        )
    return known


def _param_problems(i: int, node: NodeSpec, info: NodeTypeInfo) -> list[WorkflowProblem]:
    """Problems with one node's params (the type's model plus the common params)."""
    out: list[WorkflowProblem] = []
    own, common = split_common_params(node.params, info.Params)
    base = f"nodes[{i}].params"
    if "timeout_seconds" in common:
        value = common["timeout_seconds"]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 < value <= MAX_NODE_TIMEOUT_S
        ):
            out.append(
                WorkflowProblem(
                    "invalid_param",
                    f"node {node.id!r}: param 'timeout_seconds' must be a number of seconds "
                    f"in (0, {MAX_NODE_TIMEOUT_S}] (got {value!r})",
                    f"{base}.timeout_seconds",
                    node.id,
                )
            )
    if "join" in common and common["join"] not in JOIN_MODES:
        out.append(
            WorkflowProblem(
                "invalid_param",
                f"node {node.id!r}: param 'join' must be one of {', '.join(JOIN_MODES)} "
                f"(got {common['join']!r})",
                f"{base}.join",
                node.id,
            )
        )
    try:
        info.Params.model_validate(own)
    except ValidationError as exc:
        for err in exc.errors():
            name = _path(err["loc"]) or "params"
            if err["type"] == "missing":
                code, text = "missing_param", f"missing param {name!r}"
            elif err["type"] == "extra_forbidden":
                code, text = "unknown_param", f"unknown param {name!r}"
            else:
                code = "invalid_param"
                text = f"param {name!r}: {err['msg']} (got {err.get('input')!r})"
            field_path = f"{base}.{name}" if err["loc"] else base
            out.append(WorkflowProblem(code, f"node {node.id!r}: {text}", field_path, node.id))
    return out


def _check_edges(
    spec: WorkflowSpec,
    known: Mapping[str, NodeTypeInfo | None],
    problems: list[WorkflowProblem],
) -> None:
    """Edges must join existing nodes, once per pair, with valid branch labels."""
    seen: set[tuple[str, str]] = set()
    for j, edge in enumerate(spec.edges):
        missing = False
        for end, attr in ((edge.source, "from"), (edge.target, "to")):
            if end not in known:
                missing = True
                problems.append(
                    WorkflowProblem(
                        "edge_missing_node",
                        f"edge {edge.source!r} -> {edge.target!r}: no node {end!r}",
                        f"edges[{j}].{attr}",
                        end,
                    )
                )
        if missing:
            continue
        pair = (edge.source, edge.target)
        if pair in seen:
            problems.append(
                WorkflowProblem(
                    "duplicate_edge",
                    f"edge {edge.source!r} -> {edge.target!r} appears more than once",
                    f"edges[{j}]",
                    edge.target,
                )
            )
        seen.add(pair)
        target_info = known[edge.target]
        if target_info is not None and target_info.is_trigger:
            problems.append(
                WorkflowProblem(
                    "trigger_has_input",
                    f"trigger node {edge.target!r} must be the entry node, "
                    f"but has an edge from {edge.source!r}",
                    f"edges[{j}].to",
                    edge.target,
                )
            )
        info = known[edge.source]
        if edge.branch is None or info is None:
            continue
        if not info.branches:
            problems.append(
                WorkflowProblem(
                    "branch_not_allowed",
                    f"edge {edge.source!r} -> {edge.target!r}: node {edge.source!r} does not "
                    f"branch, so the edge cannot have branch {edge.branch!r}",
                    f"edges[{j}].branch",
                    edge.source,
                )
            )
        elif edge.branch not in info.branches:
            problems.append(
                WorkflowProblem(
                    "unknown_branch",
                    f"edge {edge.source!r} -> {edge.target!r}: unknown branch {edge.branch!r} "
                    f"(node {edge.source!r} has {', '.join(info.branches)})",
                    f"edges[{j}].branch",
                    edge.source,
                )
            )


def _check_cycles(
    spec: WorkflowSpec, known: Mapping[str, Any], problems: list[WorkflowProblem]
) -> None:
    """Report one cycle per strongly connected component that has one (its node ids in edge
    order, first repeated last). Linear in nodes + edges (Tarjan, then one search per
    component), so a definition made of many cycles cannot stall the caller."""
    succs: dict[str, dict[str, None]] = {n: {} for n in known}
    for edge in spec.edges:
        if edge.source in known and edge.target in known:
            succs[edge.source][edge.target] = None
    for component in strong_components(succs):
        root = component[0]
        if len(component) == 1 and root not in succs[root]:
            continue
        cycle = cycle_through(root, set(component), succs)
        problems.append(WorkflowProblem("cycle", "cycle: " + " -> ".join(cycle), "edges",
                                        cycle[0], tuple(cycle)))


def _structure_problems(exc: ValidationError, raw: Any) -> list[WorkflowProblem]:
    """Turn pydantic errors about the JSON shape into problems with field paths."""
    out = []
    for err in exc.errors():
        loc = err["loc"]
        node_id = None
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            try:
                node_id = raw["nodes"][loc[1]].get("id")
            except (KeyError, IndexError, TypeError, AttributeError):
                node_id = None
        path = _path(loc)
        out.append(
            WorkflowProblem(
                "invalid_structure",
                f"{path or 'workflow'}: {err['msg']}",
                path,
                node_id if isinstance(node_id, str) else None,
            )
        )
    return out


def _path(loc: Iterable[Any]) -> str:
    """('nodes', 2, 'params', 'period') -> 'nodes[2].params.period'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
