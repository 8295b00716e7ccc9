"""Auth routes: log in (rate-limited), log out, and manage API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from agentic_app.api.deps import CurrentUser, IdPath, PageDep, RedisDep, SettingsDep, TokenDep
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    LoginPublic,
    LoginRequest,
    Page,
    UserPublic,
)
from agentic_app.domain.errors import AuthenticationError
from agentic_app.services import auth as auth_service
from agentic_app.services import login_limit, tokens

router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_ERRORS)


def client_ip(request: Request) -> str | None:
    """The client address as seen by the server (proxies: configure uvicorn's
    ``--forwarded-allow-ips`` so this is the real client)."""
    return request.client.host if request.client else None


@router.post("/login", response_model=LoginPublic, responses=error_responses(429))
def login(body: LoginRequest, request: Request, redis: RedisDep,
          settings: SettingsDep) -> LoginPublic:
    """Exchange username + password for a bearer session token (valid 7 days).

    Failed attempts are limited per username (5) and per client IP (20) within 5 minutes;
    beyond that the answer is 429 with ``Retry-After`` until the window ends."""
    ip = client_ip(request)
    login_limit.check_allowed(redis, username=body.username, ip=ip)
    result = auth_service.login(username=body.username, password=body.password,
                                database_url=settings.database_url)
    if result is None:
        login_limit.record_failure(redis, username=body.username, ip=ip)
        raise AuthenticationError("wrong username or password", field="password")
    login_limit.record_success(redis, username=body.username)
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
