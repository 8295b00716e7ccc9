"""The node-type interface, the context a node runs with, and the registry of node types.

A node type is a class::

    @default_registry.register
    class RsiNode(NodeType):
        type_name = "indicator.rsi"
        version = 1
        outputs = {"value": "latest RSI (float)", "values": "RSI series (list[float])"}

        class Params(NodeParams):
            period: int = Field(14, ge=2)

        def run(self, ctx, params, inputs):   # sync: runs in the executor's thread pool
            ...
            return {"value": 42.0}

``run`` may also be ``async def`` (then it runs on the event loop and must not block).
``inputs`` maps each live upstream node id to its output dict. A branching node
(``branches = ("true", "false")``) returns ``{"branch": "<label>", ...}``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agentic_app.domain.errors import CancelledError
from agentic_app.domain.events import LEVELS, NodeLog, jsonable
from agentic_app.domain.workflow import MAX_NODE_TIMEOUT_S


class NodeParams(BaseModel):
    """Base of every node's ``Params``: unknown params are errors; common params included."""

    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_NODE_TIMEOUT_S,
        description="per-node timeout override",
    )
    join: Literal["all", "any"] = Field(  # domain.workflow.JOIN_MODES
        default="all",
        description="run when all incoming edges are live (all) or at least one is (any)",
    )


class NodeType:
    """Base class of node types; subclasses set the class attributes and implement ``run``."""

    type_name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NodeParams
    outputs: ClassVar[dict[str, str]] = {}
    is_trigger: ClassVar[bool] = False
    branches: ClassVar[tuple[str, ...]] = ()
    timeout_default: ClassVar[float] = 60

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> Any:
        """Do the node's work and return its output dict (sync or ``async def``)."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """JSON-safe description for UIs and docs: name, version, params schema, outputs."""
        return {
            "type": cls.type_name,
            "version": cls.version,
            "description": cls.description or (cls.__doc__ or "").strip().split("\n")[0],
            "params_schema": cls.Params.model_json_schema(),
            "outputs": dict(cls.outputs),
            "is_trigger": cls.is_trigger,
            "branches": list(cls.branches),
            "timeout_default": cls.timeout_default,
        }


@dataclass(kw_only=True)
class NodeContext:
    """What a running node may use besides its params and inputs.

    ``now`` is the execution's clock (``--at`` in the CLI): nodes use it, never
    ``datetime.now()``. ``ancestors`` holds the outputs of every succeeded ancestor (not only
    direct inputs). ``services`` carries ``market``, ``broker``, ``notifier`` (set by the app).
    """

    execution_id: int | str
    node_id: str
    node_type: str = ""
    user_id: int | None = None
    workflow_id: int | None = None
    attempt: int = 1
    trigger_payload: dict[str, Any] = field(default_factory=dict)
    now: datetime
    services: Any = None
    ancestors: Mapping[str, dict] = field(default_factory=dict)
    emit: Callable[[Any], None] | None = field(default=None, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def idempotency_key(self) -> str:
        """Stable key for side effects of this node in this execution (same on every attempt)."""
        return f"{self.execution_id}:{self.node_id}"

    @property
    def is_cancelled(self) -> bool:
        """True once the node has been told to stop (cancel, timeout, memory limit)."""
        return self.cancelled.is_set()

    def check_cancelled(self) -> None:
        """Raise CancelledError if the node should stop; call it in long loops of sync code."""
        if self.cancelled.is_set():
            raise CancelledError(f"node {self.node_id!r} was stopped")

    def sleep(self, seconds: float) -> None:
        """Blocking sleep (for sync nodes) that ends early with CancelledError when stopped."""
        if self.cancelled.wait(seconds):
            self.check_cancelled()

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        """Write a line into the execution's log (a NodeLog event); ignored once stopped."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        if self.emit is None or self.cancelled.is_set():
            return
        self.emit(
            NodeLog(
                execution_id=self.execution_id,
                attempt=self.attempt,
                node_id=self.node_id,
                level=level,
                message=str(message),
                data=jsonable(data),
            )
        )


N = TypeVar("N", bound=type[NodeType])


class NodeRegistry:
    """Node types keyed by ``type_name``; separate instances are independent (tests)."""

    def __init__(self) -> None:
        self._types: dict[str, type[NodeType]] = {}

    def register(self, cls: N | None = None, *, replace: bool = False) -> Any:
        """Register a NodeType subclass; usable as ``@registry.register`` or
        ``@registry.register(replace=True)``. A second type with the same name is an error."""

        def decorator(node_cls: N) -> N:
            self._check(node_cls)
            existing = self._types.get(node_cls.type_name)
            same = existing is not None and (
                existing.__qualname__,
                existing.__module__,
            ) == (node_cls.__qualname__, node_cls.__module__)  # a re-imported module
            if existing is not None and not same and not replace:
                raise ValueError(f"node type {node_cls.type_name!r} is already registered")
            self._types[node_cls.type_name] = node_cls
            return node_cls

        return decorator if cls is None else decorator(cls)

    def unregister(self, type_name: str) -> None:
        """Remove a node type (no error if absent)."""
        self._types.pop(type_name, None)

    def get(self, type_name: str) -> type[NodeType] | None:
        """The node type called ``type_name``, or None."""
        return self._types.get(type_name)

    def all(self) -> list[type[NodeType]]:
        """Every registered node type, sorted by name."""
        return [self._types[k] for k in sorted(self._types)]

    def names(self) -> list[str]:
        """Registered type names, sorted."""
        return sorted(self._types)

    def versions(self) -> dict[str, int]:
        """Type name -> version of every registered type."""
        return {name: self._types[name].version for name in sorted(self._types)}

    def describe(self) -> list[dict[str, Any]]:
        """:meth:`NodeType.describe` of every registered type."""
        return [cls.describe() for cls in self.all()]

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def __len__(self) -> int:
        return len(self._types)

    @staticmethod
    def _check(node_cls: Any) -> None:
        cls = node_cls
        if not (isinstance(cls, type) and issubclass(cls, NodeType)):
            raise TypeError(f"{cls!r} is not a NodeType subclass")
        if not cls.type_name or not isinstance(cls.type_name, str):
            raise ValueError(f"{cls.__name__} has no type_name")
        if not (isinstance(cls.Params, type) and issubclass(cls.Params, BaseModel)):
            raise TypeError(f"{cls.__name__}.Params must be a pydantic model")
        if cls.run is NodeType.run:
            raise TypeError(f"{cls.__name__} does not implement run()")
        if not isinstance(cls.version, int) or cls.version < 1:
            raise ValueError(f"{cls.__name__}.version must be a positive int")
        if any(not isinstance(b, str) or not b for b in cls.branches):
            raise ValueError(f"{cls.__name__}.branches must be non-empty strings")


default_registry = NodeRegistry()
"""The registry the app uses; node modules register into it when imported."""

register = default_registry.register
"""Shortcut for ``default_registry.register``."""
