"""Request and response models of the REST API (Base / Create / Update / Public families).

Ids are positive 32-bit integers (what every supported database stores). Free-form JSON
objects (workflow definitions, trigger configs, payloads) must be finite (no NaN/Infinity)
and hold no NUL characters; nesting is bounded by the request-size limit.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentic_app.domain.accounts import (
    MAX_TOKEN_NAME_LENGTH,
    MAX_USERNAME_LENGTH,
    MIN_USERNAME_LENGTH,
)
from agentic_app.domain.password_policy import MAX_PASSWORD_LENGTH
from agentic_app.domain.workflow import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH

MAX_ID = 2**31 - 1
"""Largest id accepted anywhere (32-bit signed integer columns)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting accepted in a free-form JSON object."""

T = TypeVar("T")


def _clean(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _clean(key, depth + 1)
            _clean(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _clean(item, depth + 1)


def _clean_json(value: Any) -> Any:
    _clean(value)
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
"""A JSON object without NaN/Infinity or NUL characters."""
Text = Annotated[str, AfterValidator(_no_nul)]
"""A string without NUL characters."""
IdInt = Annotated[int, Field(ge=1, le=MAX_ID)]
"""An id in a request body."""
Priority = Annotated[int, Field(ge=-10, le=10)]
"""Queue priority: > 0 high, 0 normal, < 0 low."""
TriggerTypeName = Literal["cron", "time", "price", "indicator", "webhook"]
"""The five trigger types."""


class Public(BaseModel):
    """Base of response models: built from ORM rows and dicts; NaN serialised as null."""

    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="null")


class ErrorPublic(BaseModel):
    """Every 4xx/5xx body: a message, the error type, and where when known."""

    detail: str = Field(description="human-readable message")
    type: str = Field(description="error class, e.g. InvalidInputError, NotFoundError")
    field: str | None = Field(None, description="the input at fault, e.g. "
                                                "trigger_config.cron_expression")
    position: int | None = Field(None, description="0-based character position in the field")
    limit: str | None = Field(None, description="the limit hit (429)")
    problems: list[dict[str, Any]] | None = Field(None, description="every problem of an "
                                                                    "invalid workflow")
    errors: list[dict[str, Any]] | None = Field(None, description="request validation errors "
                                                                  "(loc, msg, type)")


class Page(Public, Generic[T]):
    """One page of a list: ``items`` plus the ``total`` matching the filters."""

    items: list[T]
    total: int
    offset: int
    limit: int


# -- auth -------------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    """Username and password."""

    username: Text = Field(min_length=1, max_length=MAX_USERNAME_LENGTH)
    password: Text = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class UserCreate(BaseModel):
    """A new account: the password must pass the password policy (at least 10 characters,
    not one of the most common passwords, not the username)."""

    username: Text = Field(min_length=MIN_USERNAME_LENGTH, max_length=MAX_USERNAME_LENGTH)
    password: Text = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    is_admin: bool = False


class UserPublic(Public):
    """Who a token belongs to."""

    id: int
    username: str
    is_admin: bool


class LoginPublic(Public):
    """A login session: the bearer token (shown once) and its expiry."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime | None
    user: UserPublic


class ApiTokenCreate(BaseModel):
    """A new named API token; without ``expires_in_days`` it never expires (revoke it)."""

    name: Text = Field(min_length=1, max_length=MAX_TOKEN_NAME_LENGTH)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiTokenPublic(Public):
    """A token's metadata (never the token itself)."""

    id: int
    name: str
    kind: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool


class ApiTokenCreated(ApiTokenPublic):
    """A created token: ``token`` is shown this once only."""

    token: str


# -- workflows --------------------------------------------------------------------------------


class WorkflowBase(BaseModel):
    """Fields a user sets on a workflow."""

    name: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: Text = Field("", max_length=MAX_DESCRIPTION_LENGTH)


class WorkflowCreate(WorkflowBase):
    """A new workflow: a DAG of nodes (``{"nodes": [...], "edges": [...]}``)."""

    definition: JsonObject
    is_active: bool = True


class WorkflowUpdate(BaseModel):
    """Fields to change (omitted ones stay); a new definition bumps ``version``."""

    name: Text | None = Field(None, min_length=1, max_length=MAX_NAME_LENGTH)
    description: Text | None = Field(None, max_length=MAX_DESCRIPTION_LENGTH)
    definition: JsonObject | None = None
    is_active: bool | None = None


class WorkflowPublic(Public):
    """A stored workflow."""

    id: int
    name: str
    description: str
    definition: dict[str, Any]
    version: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    alert_only: bool = Field(False, description="order nodes send alerts instead of trading")


class WorkflowValidate(BaseModel):
    """A definition to check without storing it."""

    definition: JsonObject


class WorkflowValidation(Public):
    """Outcome of a validation: ``valid`` and every problem found."""

    valid: bool
    problems: list[dict[str, Any]]
    trigger_node_type: str | None = None
    levels: list[list[dict[str, str]]] = Field(
        default_factory=list, description="nodes ({id, type}) by parallel level, as far as "
                                          "the structure can be read")


class WorkflowRun(BaseModel):
    """Options of a run-now request."""

    trigger_payload: JsonObject = Field(default_factory=dict)
    priority: Priority = 0


class TemplatePublic(Public):
    """A workflow template to start from."""

    name: str
    description: str
    trigger_type: str | None


class WorkflowFromTemplate(BaseModel):
    """A new workflow from a template; optionally with another trigger."""

    template: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    name: Text = Field("", max_length=MAX_NAME_LENGTH, description="default: the template's name "
                                                       "(made unique among yours)")
    trigger_type: TriggerTypeName | None = None
    params: JsonObject | None = Field(None, description="the trigger node's params (with "
                                                        "trigger_type)")


class WorkflowTrigger(BaseModel):
    """The trigger to write into a workflow's trigger node."""

    trigger_type: TriggerTypeName
    params: JsonObject


# -- monitoring -------------------------------------------------------------------------------


class ExecutionPublic(Public):
    """A workflow execution (all its attempts)."""

    id: int
    workflow_id: int
    workflow_name: str | None
    user_id: int
    job_id: int | None
    scheduled_job_id: int | None
    status: str
    trigger_type: str
    trigger_payload: dict[str, Any] | None
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None
    alert_only: bool = Field(False, description="an alert-only run: nothing was traded")


class ActiveExecution(ExecutionPublic):
    """A pending or running execution and its running nodes."""

    running_nodes: list[str]


class TimelineNode(Public):
    """One attempt of one node."""

    node_id: str
    node_type: str
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None


class Timeline(Public):
    """An execution's nodes in start order, per attempt."""

    execution_id: int
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    nodes: list[TimelineNode]


class ExecutionMetricsPublic(Public):
    """Summary figures (stored when finished, else computed so far: ``final``)."""

    execution_id: int
    status: str
    final: bool
    attempts: int
    duration_ms: float | None
    total_nodes: int
    successful_nodes: int
    failed_nodes: int
    total_time_ms: int
    avg_node_time_ms: int
    memory_used_mb: float | None
    nodes_by_status: dict[str, int]
