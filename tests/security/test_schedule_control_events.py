"""The pause / resume / skip handlers of the scheduler UI, attacked through the real Reflex
WebSocket: another user's job cannot be paused, resumed or skipped (the dialog shows 'not
found', the job is unchanged), and an oversized note or count is cut at the input and refused
naming the field before anything changes. (Anonymous tabs: test_reflex_events.py.)"""

from __future__ import annotations

import asyncio

import httpx

from agentic_app.domain.schedule_health import MAX_PAUSE_NOTE_LENGTH
from agentic_app.state.schedule_control import ScheduleControlState
from tests.security.conftest import API, Account, create_account
from tests.security.reflex_client import ReflexClient, event_name

C = ScheduleControlState


def _job(app, account: Account) -> dict:
    resp = httpx.post(f"{app.backend}{API}/scheduler/jobs", headers=account.headers, timeout=30,
                      json={"workflow_id": account.workflow_id, "trigger_type": "cron",
                            "trigger_config": {"cron_expression": "0 9 * * *"}})
    resp.raise_for_status()
    return resp.json()


def _get(app, account: Account, job_id: int) -> dict:
    resp = httpx.get(f"{app.backend}{API}/scheduler/jobs/{job_id}", headers=account.headers,
                     timeout=30)
    resp.raise_for_status()
    return resp.json()


async def _send(tab: ReflexClient, handler, payload: dict) -> None:
    await tab.emit(event_name(handler), payload)


def test_other_users_job_cannot_be_steered(reflex_app, account: Account) -> None:
    """Eve's tab opens the dialogs on Alice's paused job and confirms pause, skip and resume:
    'not found' each time and Alice's job keeps its state (paused, her note, no skip)."""
    job = _job(reflex_app, account)
    httpx.post(f"{reflex_app.backend}{API}/scheduler/jobs/{job['id']}/pause", timeout=30,
               headers=account.headers, json={"note": "mine"}).raise_for_status()
    before = _get(reflex_app, account, job["id"])
    assert before["is_active"] is False and before["pause_note"] == "mine"
    eve = create_account(reflex_app)

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=eve.token,
                                path="/scheduler") as tab:
            await _send(tab, C.open_pause, {"job_id": str(job["id"]), "name": "x",
                                            "origin": "jobs"})
            await _send(tab, C.set_pause_note, {"value": "pwned"})
            await _send(tab, C.confirm_pause, {})
            await tab.wait_for(lambda: "not found" in (tab.var(C, "error") or ""), 30,
                               "pause refused")
            await _send(tab, C.open_skip, {"job_id": str(job["id"]), "name": "x",
                                           "origin": "jobs"})
            await tab.wait_for(lambda: tab.var(C, "skip_open") and not tab.var(C, "error"),
                               30, "skip dialog open")
            await _send(tab, C.set_skip_count, {"value": "5"})
            await _send(tab, C.confirm_skip, {})
            await tab.wait_for(lambda: "not found" in (tab.var(C, "error") or ""), 30,
                               "skip refused")
            await _send(tab, C.resume, {"job_id": str(job["id"]), "origin": "jobs"})
            await asyncio.sleep(1)

    asyncio.run(scenario())
    assert _get(reflex_app, account, job["id"]) == before


def test_oversized_note_and_count_are_refused(reflex_app, account: Account) -> None:
    """A 100 kB note is cut to one past the limit and refused naming the note; a huge count
    is cut at the input and refused; the job is unchanged."""
    job = _job(reflex_app, account)
    before = _get(reflex_app, account, job["id"])

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/scheduler") as tab:
            await _send(tab, C.open_pause, {"job_id": str(job["id"]), "name": "x",
                                            "origin": "jobs"})
            await _send(tab, C.set_pause_note, {"value": "n" * 100_000})
            await tab.wait_for(lambda: len(tab.var(C, "pause_note") or "")
                               == MAX_PAUSE_NOTE_LENGTH + 1, 30, "note cut")
            await _send(tab, C.confirm_pause, {})
            await tab.wait_for(lambda: "note must be at most" in (tab.var(C, "error") or ""),
                               30, "note refused")
            await _send(tab, C.open_skip, {"job_id": str(job["id"]), "name": "x",
                                           "origin": "jobs"})
            await _send(tab, C.set_skip_count, {"value": "9" * 10_000})
            await tab.wait_for(lambda: len(tab.var(C, "skip_count") or "") == 10, 30,
                               "count cut")
            await _send(tab, C.confirm_skip, {})
            await tab.wait_for(lambda: "count must be" in (tab.var(C, "error") or ""), 30,
                               "count refused")

    asyncio.run(scenario())
    assert _get(reflex_app, account, job["id"]) == before


def test_non_numeric_and_huge_ids_are_refused(reflex_app, account: Account) -> None:
    """open_pause / open_skip / resume with 'abc', a 10 kB number or '-1' never raise in the
    handler (the tab stays usable) and change nothing: the dialog holds no job."""
    job = _job(reflex_app, account)
    before = _get(reflex_app, account, job["id"])

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/scheduler") as tab:
            for bad in ("abc", "9" * 10_000, "-1", "1e3"):
                await _send(tab, C.open_pause, {"job_id": bad, "name": "x", "origin": "jobs"})
                await tab.wait_for(lambda: tab.var(C, "pause_open") is True
                                   and tab.var(C, "job_id") in (0, 999_999_999_999), 30,
                                   "dialog open without a job")
                await _send(tab, C.confirm_pause, {})
                await _send(tab, C.set_pause_open, {"value": False})
                await _send(tab, C.resume, {"job_id": bad, "origin": "jobs"})
                await _send(tab, C.open_skip, {"job_id": bad, "name": "x", "origin": "jobs"})
                await tab.wait_for(lambda: tab.var(C, "skip_open") is True, 30, "skip open")
                await _send(tab, C.set_skip_open, {"value": False})
                await tab.wait_for(lambda: tab.var(C, "skip_open") is False, 30, "closed")

    asyncio.run(scenario())
    assert _get(reflex_app, account, job["id"]) == before
