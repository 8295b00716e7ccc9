"""Auth routes: log in (rate-limited), log out, and manage API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from agentic_app.api.deps import AppDep, CurrentUser, IdPath, PageDep, TokenDep
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    LoginPublic,
    LoginRequest,
    Page,
    UserCreate,
    UserPublic,
)

router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_ERRORS)


def client_ip(request: Request) -> str | None:
    """The client address as seen by the server (proxies: configure uvicorn's
    ``--forwarded-allow-ips`` so this is the real client)."""
    return request.client.host if request.client else None


@router.post("/login", response_model=LoginPublic, responses=error_responses(429))
def login(body: LoginRequest, request: Request, app: AppDep) -> LoginPublic:
    """Exchange username + password for a bearer session token (valid 7 days).

    After some failed attempts per username (5) and per client IP (20), the next attempt
    must wait a delay that doubles with each further failure (settings ``LOGIN``); until
    then the answer is 429 with ``Retry-After``. Unknown and known names cost the same."""
    session = app.auth.login(username=body.username, password=body.password,
                             ip=client_ip(request))
    return LoginPublic(access_token=session.token, expires_at=session.expires_at,
                       user=UserPublic.model_validate(session.actor))


@router.post("/logout", status_code=204, response_class=Response)
def logout(user: CurrentUser, token: TokenDep, app: AppDep) -> Response:
    """Revoke the token this request carries (session or API token)."""
    app.auth.logout(token)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic.model_validate(user)


@router.post("/users", response_model=UserPublic, status_code=201,
             responses=error_responses(403))
def create_user(body: UserCreate, user: CurrentUser, app: AppDep) -> UserPublic:
    """Create an account (admins only). A password shorter than 10 characters, one of the
    most common passwords, or equal to the username is 422 naming ``password``."""
    created = app.users.create_by(user, username=body.username, password=body.password,
                                  is_admin=body.is_admin)
    return UserPublic.model_validate(created)


@router.get("/tokens", response_model=Page[ApiTokenPublic])
def list_tokens(user: CurrentUser, app: AppDep, page: PageDep,
                include_revoked: bool = False) -> Page[ApiTokenPublic]:
    """The user's tokens (login sessions and API tokens), newest first; never the secrets."""
    rows, total = app.tokens.list(user, include_revoked=include_revoked, offset=page.offset,
                                  limit=page.limit)
    return Page[ApiTokenPublic](items=[ApiTokenPublic.model_validate(r) for r in rows],
                                total=total, offset=page.offset, limit=page.limit)


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201)
def create_token(body: ApiTokenCreate, user: CurrentUser, app: AppDep) -> ApiTokenCreated:
    """Create a named API token; the token is in this response only."""
    row, token = app.tokens.create(user, name=body.name, expires_in_days=body.expires_in_days)
    return ApiTokenCreated(**ApiTokenPublic.model_validate(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: IdPath, user: CurrentUser, app: AppDep) -> Response:
    """Revoke one of the user's tokens (idempotent); 404 when it is not theirs."""
    app.tokens.revoke(user, token_id)
    return Response(status_code=204)
