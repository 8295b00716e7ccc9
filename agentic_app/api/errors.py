"""Exception handlers: every error becomes a JSON :class:`ErrorPublic` body with a 4xx code.

Domain errors map centrally: InvalidInputError 422 (``field``/``position``), NotFoundError
404, AuthenticationError 401, ConflictError 409, PayloadTooLargeError 413,
LimitExceededError 429 (``limit``; ``Retry-After`` when known), WorkflowValidationError 422
with its ``problems``. Request validation errors are 422 naming the first field. Database
refusals of a value are 422; anything unexpected is a JSON 500 that leaks no detail.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc as sa_exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentic_app.api.schemas import ErrorPublic
from agentic_app.domain.errors import (
    AgenticError,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)

log = logging.getLogger(__name__)


STATUS_BY_ERROR: tuple[tuple[type[AgenticError], int], ...] = (
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (LimitExceededError, 429),
    (InvalidInputError, 422),
    (ServiceUnavailableError, 503),
)
"""Domain error class -> HTTP status, most specific first; other AgenticErrors are 422."""


def status_for(exc: AgenticError) -> int:
    """The HTTP status of a domain error."""
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 422


def error_response(status: int, detail: str, type_: str, *,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """A JSON error response shaped like :class:`ErrorPublic`."""
    body = ErrorPublic(detail=detail, type=type_, **extra)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status,
                        headers=headers)


def agentic_error_response(exc: AgenticError) -> JSONResponse:
    """The response of a domain error (also used outside handlers, e.g. by the WebSocket)."""
    status = status_for(exc)
    data = exc.to_dict()
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(exc, "retry_after", None)
    if status == 429 and retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return error_response(
        status, exc.message, data["type"], headers=headers or None,
        field=exc.field, position=exc.position, limit=getattr(exc, "limit", None),
        problems=data.get("problems"))


def _loc_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    field = _loc_field(first["loc"])
    return error_response(422, f"{field}: {first['msg']}", "RequestValidationError",
                          field=field, errors=errors)


async def _agentic_handler(_request: Request, exc: AgenticError) -> JSONResponse:
    return agentic_error_response(exc)


async def _http_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    type_ = "PayloadTooLargeError" if exc.status_code == 413 else "HTTPException"
    return error_response(exc.status_code, detail, type_, headers=exc.headers)


async def _data_error_handler(_request: Request, exc: sa_exc.DataError) -> JSONResponse:
    log.info("database refused a value: %s", exc.orig)
    return error_response(422, "a value was refused by the database (out of range or "
                               "containing characters it cannot store)", "InvalidInputError")


async def _integrity_handler(_request: Request, exc: sa_exc.IntegrityError) -> JSONResponse:
    log.info("integrity error: %s", exc.orig)
    return error_response(409, "the request conflicts with stored data", "ConflictError")


async def _unexpected_handler(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal error (logged)", "InternalError")


def install_error_handlers(api: FastAPI) -> None:
    """Register every handler on ``api``."""
    api.add_exception_handler(RequestValidationError, _validation_handler)
    api.add_exception_handler(AgenticError, _agentic_handler)
    api.add_exception_handler(StarletteHTTPException, _http_handler)
    api.add_exception_handler(sa_exc.DataError, _data_error_handler)
    api.add_exception_handler(sa_exc.IntegrityError, _integrity_handler)
    api.add_exception_handler(Exception, _unexpected_handler)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting ErrorPublic bodies for ``codes``."""
    described = {400: "Bad request", 401: "Missing, invalid, expired or revoked token",
                 403: "Not allowed", 404: "Unknown id (or another user's)",
                 405: "Method not allowed", 409: "Conflicts with the current state",
                 413: "Body over the size limit", 422: "Invalid input (names the field)",
                 429: "A limit was hit (names the limit)", 500: "Unexpected error",
                 503: "Redis or the database is unavailable"}
    return {code: {"model": ErrorPublic, "description": described.get(code, "Error")}
            for code in codes}


COMMON_ERRORS = error_responses(400, 401, 404, 405, 413, 422, 500, 503)
"""Errors any protected route may answer."""
