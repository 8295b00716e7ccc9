"""Graph algorithms for workflow DAGs, each linear in nodes + edges.

Pure Python, no I/O: the workflow spec builds a :class:`GraphIndex` once and its helpers, the
validation's cycle report and the executor's scheduling all walk it.
"""

from __future__ import annotations

import graphlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GraphIndex:
    """Index of a spec: nodes by id, edges and distinct neighbours per node, in declaration
    order."""

    nodes: dict[str, Any]
    incoming: dict[str, list[Any]]
    outgoing: dict[str, list[Any]]
    preds: dict[str, list[str]]
    succs: dict[str, list[str]]

    @classmethod
    def of(cls, spec: Any) -> GraphIndex:
        """Build the index in one pass over the nodes and one over the edges."""
        nodes: dict[str, Any] = {}
        for node in spec.nodes:
            nodes.setdefault(node.id, node)
        incoming: dict[str, list[Any]] = {}
        outgoing: dict[str, list[Any]] = {}
        preds: dict[str, dict[str, None]] = {}
        succs: dict[str, dict[str, None]] = {}
        for e in spec.edges:
            incoming.setdefault(e.target, []).append(e)
            outgoing.setdefault(e.source, []).append(e)
            preds.setdefault(e.target, {})[e.source] = None
            succs.setdefault(e.source, {})[e.target] = None
        return cls(nodes, incoming, outgoing, {k: list(v) for k, v in preds.items()},
                   {k: list(v) for k, v in succs.items()})


def longest_path_levels(ids: Iterable[str], preds: Mapping[str, list[str]],
                        succs: Mapping[str, list[str]]) -> list[list[str]]:
    """Nodes grouped by longest distance from a root, declaration order kept within a level.

    Kahn's algorithm: O(nodes + edges). Raises ``graphlib.CycleError`` on a cycle."""
    ids = list(ids)
    remaining = {n: len(preds.get(n, ())) for n in ids}
    depth = {n: 0 for n in ids if remaining[n] == 0}
    ready = deque(n for n in ids if remaining[n] == 0)
    while ready:
        n = ready.popleft()
        for s in succs.get(n, ()):
            depth[s] = max(depth.get(s, 0), depth[n] + 1)
            remaining[s] -= 1
            if remaining[s] == 0:
                ready.append(s)
    if any(remaining.values()):
        raise graphlib.CycleError("workflow has a cycle")
    levels: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in ids:
        levels[depth[n]].append(n)
    return levels


def strong_components(succs: Mapping[str, Mapping[str, None]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for start in succs:
        if start in index:
            continue
        work = [(start, iter(succs[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succs[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component[::-1])
    return out


def cycle_through(root: str, members: set[str], succs: Mapping[str, Mapping[str, None]],
                   ) -> list[str]:
    """A shortest cycle from ``root`` back to it inside one component (breadth-first)."""
    parent: dict[str, str] = {}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for nxt in succs[node]:
            if nxt == root:
                path = [node]
                while path[-1] != root:
                    path.append(parent[path[-1]])
                return [*path[::-1], root]
            if nxt in members and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError("a strongly connected component always closes a cycle")


def reach(start: str, adj: Mapping[str, list[str]]) -> set[str]:
    """Every node reachable from ``start`` along ``adj`` (excluding ``start``)."""
    seen: set[str] = set()
    stack = list(adj.get(start, []))
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(adj.get(n, []))
    seen.discard(start)
    return seen
