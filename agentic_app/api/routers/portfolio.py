"""Portfolio routes: accounts with positions, cash, P&L and fees; orders with their fills,
executions and schedules; the equity curve; what an execution placed; alert-only orders."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from agentic_app.api.deps import AppDep, CurrentUser, IdPath, PageDep
from agentic_app.api.errors import COMMON_ERRORS
from agentic_app.api.portfolio_schemas import (
    AccountSummary,
    AlertOrderPublic,
    EquityCurve,
    ExecutionOrders,
    OrderPublic,
)
from agentic_app.api.schemas import MAX_ID, Page
from agentic_app.services.app import MAX_CURVE_POINTS

router = APIRouter(prefix="/portfolio", tags=["portfolio"], responses=COMMON_ERRORS)

AccountPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$",
                                  description="account name (``paper``)")]
OrderStatus = Literal["new", "open", "filled", "cancelled", "rejected"]


@router.get("/accounts", response_model=list[AccountSummary])
def list_accounts(user: CurrentUser, app: AppDep) -> list[AccountSummary]:
    """Every account of the user with its summary."""
    return [AccountSummary.model_validate(a) for a in app.portfolio.accounts(user)]


@router.get("/accounts/{account}", response_model=AccountSummary)
def get_account(account: AccountPath, user: CurrentUser, app: AppDep) -> AccountSummary:
    """One account: cash, equity, realized (gross, net) and unrealized P&L, fees, open and
    closed positions, marked at the feed's current prices. 404 unknown account."""
    return AccountSummary.model_validate(app.portfolio.summary(user, account))


@router.get("/accounts/{account}/orders", response_model=Page[OrderPublic])
def list_orders(
    account: AccountPath, user: CurrentUser, app: AppDep, page: PageDep,
    execution_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    scheduled_job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: OrderStatus | None = None,
) -> Page[OrderPublic]:
    """The account's orders, newest first, with fills, the execution that placed each and
    that execution's schedule; filter by execution, schedule or status."""
    rows, total = app.portfolio.orders(user, account, offset=page.offset, limit=page.limit,
                                       execution_id=execution_id,
                                       scheduled_job_id=scheduled_job_id, status=status)
    return Page[OrderPublic](items=[OrderPublic.model_validate(r) for r in rows], total=total,
                             offset=page.offset, limit=page.limit)


@router.get("/accounts/{account}/equity", response_model=EquityCurve)
def equity_curve(
    account: AccountPath, user: CurrentUser, app: AppDep,
    points: Annotated[int, Query(ge=2, le=MAX_CURVE_POINTS)] = 100,
) -> EquityCurve:
    """Equity, cash and P&L at ``points`` times from the first fill to now."""
    return EquityCurve.model_validate(app.portfolio.equity(user, account, points=points))


@router.get("/executions/{execution_id}/orders", response_model=ExecutionOrders)
def execution_orders(execution_id: IdPath, user: CurrentUser, app: AppDep) -> ExecutionOrders:
    """The orders an execution placed (with fills) and, for an alert-only run, those it
    would have placed. 404 for an unknown execution or another user's."""
    return ExecutionOrders.model_validate(app.portfolio.execution_orders(user, execution_id))


@router.get("/alert-orders", response_model=Page[AlertOrderPublic])
def alert_orders(user: CurrentUser, app: AppDep, page: PageDep) -> Page[AlertOrderPublic]:
    """Orders alert-only runs recorded and sent as alerts instead of trading, newest first."""
    rows, total = app.portfolio.alert_orders(user, offset=page.offset, limit=page.limit)
    return Page[AlertOrderPublic](items=[AlertOrderPublic.model_validate(r) for r in rows],
                                  total=total, offset=page.offset, limit=page.limit)
