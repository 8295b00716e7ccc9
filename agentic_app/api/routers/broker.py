"""Live-trading routes: exchange credentials, safety limits, live orders, the kill switch.

Every route acts for the bearer token's user through ``app.broker`` / ``app.kill_switch``;
another user's credential or order is a 404. Credentials are write-only: no route returns
a key or secret. Routes that ask the exchange run in the thread pool (plain ``def``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from agentic_app.api.broker_schemas import (
    AccountPublic,
    CredentialCreate,
    CredentialPublic,
    ExchangePublic,
    KillSwitchEngage,
    KillSwitchPublic,
    LimitsPublic,
    LimitsUpdate,
    LiveOrderPublic,
    LiveOrderStatus,
)
from agentic_app.api.deps import AppDep, CurrentUser, IdPath, PageDep
from agentic_app.api.errors import error_responses
from agentic_app.api.schemas import Page

router = APIRouter(prefix="/broker", tags=["broker"],
                   responses=error_responses(400, 401, 404, 405, 409, 413, 422, 500, 503))


@router.get("/exchanges", response_model=list[ExchangePublic])
def exchanges(user: CurrentUser, app: AppDep) -> list[ExchangePublic]:
    """The exchanges live orders may go to (order nodes: ``broker`` = the exchange id)."""
    return [ExchangePublic.model_validate(e) for e in app.broker.exchanges()]


@router.get("/credentials", response_model=list[CredentialPublic])
def credentials(user: CurrentUser, app: AppDep) -> list[CredentialPublic]:
    """The user's exchange credentials, masked (never the key or secret)."""
    return [CredentialPublic.model_validate(c) for c in app.broker.credentials(user)]


@router.post("/credentials", response_model=CredentialPublic, status_code=201)
def add_credential(body: CredentialCreate, user: CurrentUser, app: AppDep) -> CredentialPublic:
    """Store an API key and secret encrypted (one per exchange: 409 for a second); only
    sandbox/testnet keys unless the server allows mainnet (422 naming ``sandbox``)."""
    return CredentialPublic.model_validate(app.broker.add_credential(
        user, exchange=body.exchange, api_key=body.api_key, secret=body.secret,
        label=body.label, sandbox=body.sandbox))


@router.delete("/credentials/{credential_id}", status_code=204)
def delete_credential(credential_id: IdPath, user: CurrentUser, app: AppDep) -> Response:
    """Delete one of the user's credentials (its orders stay in history)."""
    app.broker.delete_credential(user, credential_id)
    return Response(status_code=204)


@router.get("/orders", response_model=Page[LiveOrderPublic])
def orders(user: CurrentUser, app: AppDep, page: PageDep,
           status: Annotated[LiveOrderStatus | None, Query()] = None) -> Page[LiveOrderPublic]:
    """The user's live orders, newest first; refused ones carry the limit and reason."""
    rows, total = app.broker.orders(user, status=status, offset=page.offset, limit=page.limit)
    return Page[LiveOrderPublic](items=[LiveOrderPublic.model_validate(r) for r in rows],
                                 total=total, offset=page.offset, limit=page.limit)


@router.post("/orders/{order_id}/cancel", response_model=LiveOrderPublic)
def cancel_order(order_id: IdPath, user: CurrentUser, app: AppDep) -> LiveOrderPublic:
    """Cancel one of the user's working live orders at the exchange (422 when not open)."""
    return LiveOrderPublic.model_validate(app.broker.cancel_order(user, order_id))


@router.get("/account", response_model=AccountPublic)
def account(user: CurrentUser, app: AppDep,
            exchange: Annotated[str, Query(min_length=1, max_length=32)] = "binance",
            ) -> AccountPublic:
    """Balances and equity of the user's account on ``exchange`` (503: it did not answer)."""
    return AccountPublic.model_validate(app.broker.account(user, exchange))


@router.get("/limits", response_model=LimitsPublic)
def limits(user: CurrentUser, app: AppDep) -> LimitsPublic:
    """Safety limits: defaults, the user's overrides, those in force, today's counters."""
    return LimitsPublic.model_validate(app.broker.limits(user))


@router.put("/limits", response_model=LimitsPublic)
def set_limits(body: LimitsUpdate, user: CurrentUser, app: AppDep) -> LimitsPublic:
    """Set the given overrides (null clears one); 422 naming a limit above its default."""
    return LimitsPublic.model_validate(app.broker.set_limits(
        user, body.model_dump(exclude_unset=True)))


@router.get("/kill-switch", response_model=KillSwitchPublic)
def kill_switch(user: CurrentUser, app: AppDep) -> KillSwitchPublic:
    """The user's kill switch and what engaging it last did."""
    return KillSwitchPublic.model_validate(app.kill_switch.status(user))


@router.post("/kill-switch", response_model=KillSwitchPublic)
def engage_kill_switch(user: CurrentUser, app: AppDep,
                       body: KillSwitchEngage | None = None) -> KillSwitchPublic:
    """Engage the kill switch: pause every schedule, cancel queued runs and open paper and
    live orders; no run starts and no order is placed until it is re-armed."""
    reason = body.reason if body is not None else ""
    return KillSwitchPublic.model_validate(app.kill_switch.engage(user, reason))


@router.post("/kill-switch/rearm", response_model=KillSwitchPublic)
def rearm_kill_switch(user: CurrentUser, app: AppDep) -> KillSwitchPublic:
    """Re-arm: runs and orders are allowed again (paused schedules stay paused)."""
    return KillSwitchPublic.model_validate(app.kill_switch.rearm(user))
