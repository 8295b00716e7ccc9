"""Auth routes: log in (rate-limited), log out, and manage API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from agentic_app.api.deps import CurrentUser, IdPath, PageDep, RedisDep, SettingsDep, TokenDep
from agentic_app.api.errors import COMMON_ERRORS, ForbiddenError, error_responses
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
from agentic_app.domain.errors import AuthenticationError
from agentic_app.services import auth as auth_service
from agentic_app.services import login_limit, tokens, users

router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_ERRORS)


def client_ip(request: Request) -> str | None:
    """The client address as seen by the server (proxies: configure uvicorn's
    ``--forwarded-allow-ips`` so this is the real client)."""
    return request.client.host if request.client else None


@router.post("/login", response_model=LoginPublic, responses=error_responses(429))
def login(body: LoginRequest, request: Request, redis: RedisDep,
          settings: SettingsDep) -> LoginPublic:
    """Exchange username + password for a bearer session token (valid 7 days).

    After some failed attempts per username (5) and per client IP (20), the next attempt
    must wait a delay that doubles with each further failure (settings ``LOGIN``); until
    then the answer is 429 with ``Retry-After``. Unknown and known names cost the same."""
    ip = client_ip(request)
    limits = settings.login
    login_limit.check_allowed(redis, username=body.username, ip=ip, limits=limits)
    result = auth_service.login(username=body.username, password=body.password,
                                database_url=settings.database_url)
    if result is None:
        login_limit.record_failure(redis, username=body.username, ip=ip, limits=limits)
        raise AuthenticationError("wrong username or password", field="password")
    login_limit.record_success(redis, username=body.username, ip=ip, limits=limits)
    user, token = result
    row = tokens.token_row(token, database_url=settings.database_url)
    return LoginPublic(access_token=token, expires_at=row.expires_at if row else None,
                       user=UserPublic.model_validate(user))


@router.post("/logout", status_code=204, response_class=Response)
def logout(user: CurrentUser, token: TokenDep, settings: SettingsDep) -> Response:
    """Revoke the token this request carries (session or API token)."""
    auth_service.revoke_token(token, database_url=settings.database_url)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic.model_validate(user)


@router.post("/users", response_model=UserPublic, status_code=201,
             responses=error_responses(403))
def create_user(body: UserCreate, user: CurrentUser, settings: SettingsDep) -> UserPublic:
    """Create an account (admins only). A password shorter than 10 characters, one of the
    most common passwords, or equal to the username is 422 naming ``password``."""
    if not user.is_admin:
        raise ForbiddenError("creating accounts is for admins", field="Authorization")
    created = users.create_user(username=body.username, password=body.password,
                                is_admin=body.is_admin, database_url=settings.database_url)
    return UserPublic.model_validate(created)


@router.get("/tokens", response_model=Page[ApiTokenPublic])
def list_tokens(user: CurrentUser, settings: SettingsDep, page: PageDep,
                include_revoked: bool = False) -> Page[ApiTokenPublic]:
    """The user's tokens (login sessions and API tokens), newest first; never the secrets."""
    rows, total = tokens.list_tokens(user_id=user.id, include_revoked=include_revoked,
                                     offset=page.offset, limit=page.limit,
                                     database_url=settings.database_url)
    return Page[ApiTokenPublic](items=[ApiTokenPublic.model_validate(r) for r in rows],
                                total=total, offset=page.offset, limit=page.limit)


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201)
def create_token(body: ApiTokenCreate, user: CurrentUser,
                 settings: SettingsDep) -> ApiTokenCreated:
    """Create a named API token; the token is in this response only."""
    row, token = tokens.create_api_token(user_id=user.id, name=body.name,
                                         expires_in_days=body.expires_in_days,
                                         database_url=settings.database_url)
    return ApiTokenCreated(**ApiTokenPublic.model_validate(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: IdPath, user: CurrentUser, settings: SettingsDep) -> Response:
    """Revoke one of the user's tokens (idempotent); 404 when it is not theirs."""
    tokens.revoke_token_id(user_id=user.id, token_id=token_id,
                           database_url=settings.database_url)
    return Response(status_code=204)
