"""Reflex events attacked through the real WebSocket of a running app: without a session no
handler that reads or changes user data runs (foreground or background), an oversized
definition is refused before any work, and revoking a session ends UI access within seconds."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from agentic_app.domain.workflow import MAX_DEFINITION_BYTES, MAX_NAME_LENGTH
from agentic_app.state.alerts import BellState, NotificationsState
from agentic_app.state.backtest import MAX_FORM_BYTES, BacktestState
from agentic_app.state.base import AppState
from agentic_app.state.broker import BrokerState
from agentic_app.state.guard import SESSION_CHECK_S
from agentic_app.state.job_history import JobHistoryState
from agentic_app.state.live import IDLE_CHECK_S, LiveState
from agentic_app.state.login import LoginState
from agentic_app.state.monitor import MonitorState
from agentic_app.state.portfolio import AlertModeState, ExecutionOrdersState, PortfolioState
from agentic_app.state.queue import QueueState
from agentic_app.state.schedule_control import ScheduleControlState
from agentic_app.state.scheduler import SchedulerState
from agentic_app.state.tokens import TokensState
from agentic_app.state.workflows import WorkflowEditState, WorkflowsState
from tests.e2e.conftest import login
from tests.security.conftest import API, Account
from tests.security.reflex_client import QUIET_PATH, ReflexClient, event_name, is_snapshot

LOGIN = "/login"
REVOKED_WITHIN_S = SESSION_CHECK_S + IDLE_CHECK_S + 4.0
"""A revoked session must lose the UI by then: one cache period, one idle check, slack for
the shared 2-core machine."""

# handler, payload, page it is sent from, (state, var, default): the var the handler would
# change, which must keep its default
FOREGROUND_ATTACKS: list[tuple[Any, dict[str, Any], str, tuple[Any, str, Any]]] = [
    (WorkflowEditState.set_definition_text, {"value": '{"nodes": [], "edges": []}'},
     "/workflows/1", (WorkflowEditState, "definition_text", "")),
    (WorkflowEditState.set_param, {"node_id": "a", "key": "k", "value": "1"},
     "/workflows/1", (WorkflowEditState, "dirty", False)),
    (WorkflowsState.set_new_name, {"value": "pwned"}, "/workflows",
     (WorkflowsState, "new_name", "")),
    (SchedulerState.set_field, {"field": "name", "value": "pwned"}, "/scheduler",
     (SchedulerState, "name", "")),
    (JobHistoryState.rotate_secret, {}, "/scheduler/1", (JobHistoryState, "webhook", {})),
    (BacktestState.run, {"trigger_type": "price",
                         "params": {"symbol": "EURUSD", "condition": "price > 1"}},
     "/scheduler", (BacktestState, "window_days", "")),
    (BacktestState.set_days, {"value": "30"}, "/scheduler", (BacktestState, "days", "7")),
    (ScheduleControlState.open_pause, {"job_id": "1", "name": "x", "origin": "jobs"},
     "/scheduler", (ScheduleControlState, "pause_open", False)),
    (QueueState.set_tab, {"value": "failed"}, "/queue", (QueueState, "tab", "pending")),
    (MonitorState.set_log_level, {"value": "error"}, "/monitor/1",
     (MonitorState, "log_level", "all")),
    (TokensState.set_open, {"value": True}, "/scheduler", (TokensState, "open", False)),
    (BrokerState.set_confirm_open, {"value": True}, "/broker",
     (BrokerState, "confirm_open", False)),
    (BrokerState.load_broker, {}, "/broker", (BrokerState, "loaded", False)),
    (BrokerState.engage, {"form": {"reason": "pwned"}}, "/broker",
     (BrokerState, "engaged", False)),
    (LiveState.load_active, {}, "/monitor", (LiveState, "active_loaded", False)),
    (AppState.logout, {}, "/scheduler", (AppState, "user_id", 0)),
    (PortfolioState.load_portfolio, {}, "/portfolio", (PortfolioState, "loaded", False)),
    (PortfolioState.next_page, {}, "/portfolio", (PortfolioState, "page", 1)),
    (ExecutionOrdersState.load_execution_orders, {}, "/monitor/1",
     (ExecutionOrdersState, "alert_only", False)),
    (AlertModeState.set_job_alert_only, {"value": True}, "/scheduler/1",
     (AlertModeState, "last_change", "")),
    (AlertModeState.set_workflow_alert_only, {"workflow_id": "1", "value": True},
     "/workflows", (AlertModeState, "last_change", "")),
    (NotificationsState.set_new_url, {"value": "json://pwned.example/x"}, "/notifications",
     (NotificationsState, "new_url", "")),
    (NotificationsState.mark_read, {"notification_id": "1"}, "/notifications",
     (NotificationsState, "total", 0)),
]
BACKGROUND_ATTACKS: list[tuple[Any, dict[str, Any], str, tuple[Any, str, Any]]] = [
    (LiveState.watch_user_events, {}, "/monitor", (LiveState, "watching", False)),
    (MonitorState.follow, {"gen": 0}, "/monitor/1", (MonitorState, "live", False)),
    (QueueState.auto_refresh, {}, "/queue", (QueueState, "refreshing", False)),
    (BellState.watch_unread, {}, "/notifications", (BellState, "watching", False)),
]


def _id(attack: tuple) -> str:
    return event_name(attack[0]).rsplit("____", 1)[-1]


def _user_states() -> set[type]:
    out, todo = set(), [AppState]
    while todo:
        cls = todo.pop()
        out.add(cls)
        todo.extend(cls.get_substates())
    return out - {LoginState}


def _frontend_texts(tab: ReflexClient, mark: int) -> str:
    """Everything the backend asked the page to do since ``mark`` (toasts, redirects), as text."""
    return json.dumps(tab.events_since(mark))


async def _attack_anonymously(backend: str, attack: tuple, settle_s: float = 0.0) -> None:
    handler, payload, path, (state, var, default) = attack
    async with ReflexClient(backend, path=QUIET_PATH) as tab:
        mark = await tab.emit(event_name(handler), payload, path)
        await asyncio.sleep(settle_s)  # a background task that did start would have run by now
        snap = await tab.snapshot()
        answers = [u for u in tab.updates[mark:] if not is_snapshot(u)]
        assert LOGIN in tab.redirects_since(mark), f"{event_name(handler)} was not refused"
        assert snap[state.get_full_name()][var] == default
        assert not any(state.get_full_name() in (u.get("delta") or {}) for u in answers)


def test_every_user_data_state_is_attacked() -> None:
    """The attacks below reach every state that holds user data (a new state needs one)."""
    attacked = {a[3][0] for a in FOREGROUND_ATTACKS + BACKGROUND_ATTACKS}
    assert _user_states() <= attacked | {AppState}
    assert AppState in attacked


@pytest.mark.parametrize("attack", FOREGROUND_ATTACKS, ids=_id)
def test_anonymous_event_refused(reflex_app, attack) -> None:
    """An anonymous tab sending a user-data handler's event is sent to the login page and
    the state keeps its value."""
    asyncio.run(_attack_anonymously(reflex_app.backend, attack))


@pytest.mark.parametrize("attack", BACKGROUND_ATTACKS, ids=_id)
def test_anonymous_background_handler_refused(reflex_app, attack) -> None:
    """An anonymous tab sending a background handler's event starts no task (its flag stays
    off) and is sent to the login page."""
    asyncio.run(_attack_anonymously(reflex_app.backend, attack, settle_s=1.0))


def test_forged_session_token_refused(reflex_app) -> None:
    """A tab whose cookie holds a made-up token is refused like an anonymous one."""
    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token="x" * 43,
                                path=QUIET_PATH) as tab:
            mark = await tab.emit(event_name(WorkflowsState.set_new_name), {"value": "pwned"},
                                  "/workflows")
            snap = await tab.snapshot()
            assert LOGIN in tab.redirects_since(mark)
            assert snap[WorkflowsState.get_full_name()]["new_name"] == ""

    asyncio.run(scenario())


def test_oversized_definition_refused(reflex_app, account: Account) -> None:
    """The owner's editor refuses a definition over MAX_DEFINITION_BYTES with a message naming
    the limit, and a name over MAX_NAME_LENGTH; the editor keeps the saved text and name."""
    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path=f"/workflows/{account.workflow_id}") as tab:
            await tab.wait_for(lambda: tab.var(WorkflowEditState, "loaded"), 30, "editor load")
            before = tab.var(WorkflowEditState, "definition_text")
            assert "hello" in before
            big = json.dumps({"nodes": [{"id": "a", "type": "log",
                                         "params": {"message": "x" * MAX_DEFINITION_BYTES}}],
                              "edges": []})
            mark = await tab.emit(event_name(WorkflowEditState.set_definition_text),
                                  {"value": big})
            await tab.emit(event_name(WorkflowEditState.set_name),
                           {"value": "n" * (MAX_NAME_LENGTH + 1)})
            snap = (await tab.snapshot())[WorkflowEditState.get_full_name()]
            assert snap["definition_text"] == before
            assert snap["name"] == "security probe"
            assert not snap["dirty"]
            said = _frontend_texts(tab, mark)
            assert f"larger than {MAX_DEFINITION_BYTES} bytes" in said
            assert f"1 to {MAX_NAME_LENGTH} characters" in said

    asyncio.run(scenario())


def test_backtest_panel_refuses_oversized_input(reflex_app, account: Account) -> None:
    """The dialog's backtest refuses a trigger form over MAX_FORM_BYTES, a window that is not
    one it offers and a condition over the trigger model's limit, naming the problem, and
    runs nothing; a sane form is backtested (and is the owner's own run only)."""
    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/scheduler") as tab:
            name = event_name(BacktestState.run)
            mark = await tab.emit(name, {"trigger_type": "price", "params": {
                "symbol": "EURUSD", "condition": "price > 1", "x": "y" * MAX_FORM_BYTES}})
            await tab.wait_for(lambda: tab.var(BacktestState, "error"), 30, "size refusal")
            assert "sane size" in tab.var(BacktestState, "error")
            assert tab.var(BacktestState, "window_days") == ""
            await tab.emit(event_name(BacktestState.set_days), {"value": "100000"})
            await tab.wait_for(lambda: "days must be one of" in tab.var(BacktestState, "error"),
                               30, "days refusal")
            assert tab.var(BacktestState, "days") == "7"
            await tab.emit(name, {"trigger_type": "price", "params": {
                "symbol": "EURUSD", "condition": "price > 1" + " or price > 2" * 300}})
            await tab.wait_for(lambda: "condition" in tab.var(BacktestState, "error"), 60,
                               "condition refusal")
            assert tab.var(BacktestState, "window_days") == ""
            await tab.emit(name, {"trigger_type": "price", "params": {
                "symbol": "EURUSD", "condition": "price > 1.1"}})
            await tab.wait_for(lambda: tab.var(BacktestState, "window_days") == "7", 60,
                               "backtest result")
            assert tab.var(BacktestState, "error") == ""
            assert len(tab.var(BacktestState, "points")) > 0
            assert mark < len(tab.updates)

    asyncio.run(scenario())


def _revoke(app, account: Account, how: str) -> tuple[str, Any]:
    """A token for the UI and the call that revokes it (``logout``: the session itself;
    ``token``: an API token revoked through the token route)."""
    base = f"{app.backend}{API}/auth"
    if how == "logout":
        return account.token, lambda: httpx.post(f"{base}/logout", headers=account.headers,
                                                 timeout=30)
    created = httpx.post(f"{base}/tokens", json={"name": "ui"}, headers=account.headers,
                         timeout=30)
    created.raise_for_status()
    body = created.json()
    return body["token"], lambda: httpx.delete(f"{base}/tokens/{body['id']}",
                                               headers=account.headers, timeout=30)


@pytest.mark.parametrize("how", ["logout", "token"])
def test_revoked_session_ends_ui_access(reflex_app, account: Account, how: str) -> None:
    """After the token is revoked through REST, the next event of a working tab is refused
    and an idle tab is sent to the login page by itself, both within seconds."""
    token, revoke = _revoke(reflex_app, account, how)

    async def scenario() -> None:
        edit = f"/workflows/{account.workflow_id}"
        async with ReflexClient(reflex_app.backend, auth_token=token, path=edit) as tab, \
                ReflexClient(reflex_app.backend, auth_token=token, path="/monitor") as idle:
            await tab.wait_for(lambda: tab.var(WorkflowEditState, "loaded"), 30, "editor load")
            await idle.wait_for(lambda: idle.var(LiveState, "watching"), 30, "watcher start")
            mark = await tab.emit(event_name(WorkflowEditState.set_name), {"value": "mine"})
            await tab.wait_for(lambda: tab.var(WorkflowEditState, "name") == "mine", 30,
                               "name accepted before the revocation")
            answer = await asyncio.to_thread(revoke)
            assert answer.status_code == 204, answer.text
            revoked_at, idle_mark, mark = time.monotonic(), len(idle.updates), len(tab.updates)
            while LOGIN not in tab.redirects_since(mark):
                assert time.monotonic() - revoked_at < REVOKED_WITHIN_S, "events still accepted"
                await tab.emit(event_name(WorkflowEditState.set_name), {"value": "after"})
                await asyncio.sleep(0.25)
            refused_after = time.monotonic() - revoked_at
            await idle.wait_for(lambda: LOGIN in idle.redirects_since(idle_mark),
                                max(0.1, REVOKED_WITHIN_S - refused_after),
                                "idle tab sent to the login page")
            snap = await tab.snapshot()
            assert snap[AppState.get_full_name()]["auth_token"] == ""
            assert snap[AppState.get_full_name()]["user_id"] == 0
            idle_snap = await idle.snapshot()
            assert idle_snap[AppState.get_full_name()]["user_id"] == 0

    asyncio.run(scenario())


def test_revoked_session_sends_the_browser_to_login(reflex_app, page, account: Account) -> None:
    """A real browser tab left open on the scheduler goes to /login by itself within
    seconds of its session being revoked through ``POST /auth/logout``."""
    login(page, reflex_app, account.username, account.password)
    page.locator("#page-heading").wait_for()
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "agentic_token")
    answer = httpx.post(f"{reflex_app.backend}{API}/auth/logout", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 204, answer.text
    page.wait_for_url("**/login", timeout=REVOKED_WITHIN_S * 1000)
