"""Portfolio and alert-only Reflex events of a real `reflex run`, sent by a signed-in user
about another user's objects: nothing of the other user is shown or changed, and an
oversized id is refused with a message."""

from __future__ import annotations

import asyncio

import httpx

from agentic_app.state.portfolio import AlertModeState, PortfolioState
from tests.security.conftest import API, Account, create_account
from tests.security.reflex_client import ReflexClient, event_name


def _workflow_flag(app, owner: Account) -> bool:
    resp = httpx.get(f"{app.backend}{API}/workflows/{owner.workflow_id}", headers=owner.headers,
                     timeout=30)
    resp.raise_for_status()
    return resp.json()["alert_only"]


def test_other_users_objects_stay_untouched(reflex_app, account: Account) -> None:
    """Bob's tab switching Ann's workflow to alert-only gets a not-found toast and Ann's flag
    stays off; an id of 5000 digits is refused by name; Bob's portfolio is his own (empty);
    Ann's own switch works."""
    bob = create_account(reflex_app)

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=bob.token,
                                path="/portfolio") as tab:
            await tab.wait_for(lambda: tab.var(PortfolioState, "loaded"), 60, "portfolio load")
            assert tab.var(PortfolioState, "orders") == []
            assert tab.var(PortfolioState, "summary")["fills"] == "0"
            mark = await tab.emit(event_name(AlertModeState.set_workflow_alert_only),
                                  {"workflow_id": str(account.workflow_id), "value": True},
                                  "/workflows")
            await tab.wait_for(lambda: "not found" in str(tab.events_since(mark)), 30,
                               "not-found toast")
            mark = await tab.emit(event_name(AlertModeState.set_workflow_alert_only),
                                  {"workflow_id": "9" * 5000, "value": True}, "/workflows")
            await tab.wait_for(lambda: "workflow_id must be a number"
                               in str(tab.events_since(mark)), 30, "refusal toast")
            assert tab.var(AlertModeState, "last_change") == ""
        assert _workflow_flag(reflex_app, account) is False
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/workflows") as tab:
            await tab.emit(event_name(AlertModeState.set_workflow_alert_only),
                           {"workflow_id": str(account.workflow_id), "value": True},
                           "/workflows")
            await tab.wait_for(lambda: tab.var(AlertModeState, "last_change")
                               == f"workflow {account.workflow_id}: on", 30, "owner's switch")
        assert _workflow_flag(reflex_app, account) is True

    asyncio.run(scenario())
