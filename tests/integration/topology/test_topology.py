"""The production topology end to end (see conftest): the three template use cases through
REST on separate worker and scheduler processes; a worker group killed -9 mid-run loses
nothing; the active scheduler killed -9 is replaced within the lease time with no duplicate
and no lost fire. Order matters: the tests share one topology."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from agentic_app.engine.scheduler.service import LEASE_TTL_MS
from tests.integration.topology.conftest import STEP_S, Topology, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CRON_PERIOD_S = 15
"""The cron template fires every 15 s here: longer than a failover, so a fire time that falls
into one is caught up by the new leader, not recorded as missed."""
SLOW_FLOW = {"nodes": [{"id": "wait", "type": "delay", "params": {"seconds": 3}}]}
"""An execution long enough to kill its worker in the middle of it."""
TEMPLATES = {  # template -> the trigger it runs with here (demo-friendly, as the local demo)
    "RSI Oversold Strategy": ("cron", {"cron_expression": f"*/{CRON_PERIOD_S} * * * * *",
                                       "timezone": "UTC"}),
    "EURUSD Price Alert": ("price", {"symbol": "EURUSD", "condition": "price > 1.10"}),
    "RSI Signal Auto-trade": ("indicator", {"symbol": "BTCUSDT", "timeframe": "1m",
                                            "indicator": "rsi", "params": {"period": 14},
                                            "condition": "rsi < 30", "evaluate_on": "tick"}),
}
SCHEDULES: dict[str, int] = {}
"""Template name -> its scheduled job id (filled by the first test)."""


def _history(topo: Topology, job_id: int) -> dict:
    r = topo.api.get(f"/scheduler/jobs/{job_id}/history", params={"limit": 100})
    assert r.status_code == 200, r.text
    return r.json()


def _completed_runs(topo: Topology, job_id: int) -> list[dict]:
    return [run for run in _history(topo, job_id)["runs"] if run["status"] == "completed"]


def _trigger_details(topo: Topology, job_id: int) -> str:
    """What a failure shows: the job's history and row, its trigger state, the last tick."""
    import sqlalchemy as sa

    from agentic_app.engine.scheduler.service import TICK_METRICS_KEY

    engine = sa.create_engine(topo.env["DATABASE_URL"])
    with engine.connect() as conn:
        states = conn.execute(sa.text("SELECT * FROM trigger_states")).all()
    engine.dispose()
    return repr((_history(topo, job_id), topo.api.get(f"/scheduler/jobs/{job_id}").text,
                 states, topo.redis.hgetall(TICK_METRICS_KEY)))


def _jobs(topo: Topology, ids: list[int]) -> list[dict]:
    out = []
    for job_id in ids:
        r = topo.api.get(f"/queue/jobs/{job_id}")
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def test_three_templates_scheduled_through_rest(topology: Topology):
    """Each template becomes a workflow and a schedule through REST (they fire while the
    next tests run; the last test checks they completed)."""
    for template, (trigger_type, params) in TEMPLATES.items():
        r = topology.api.post("/workflows/from-template", json={
            "template": template, "trigger_type": trigger_type, "params": params})
        assert r.status_code == 201, r.text
        r = topology.api.post("/scheduler/jobs", json={
            "workflow_id": r.json()["id"], "trigger_type": trigger_type,
            "trigger_config": {"misfire_grace_seconds": 60}
            if trigger_type == "cron" else {}})
        assert r.status_code == 201, r.text
        assert r.json()["is_active"] and r.json()["config_error"] is None, r.text
        SCHEDULES[template] = r.json()["id"]


def test_worker_group_killed_mid_run_loses_nothing(topology: Topology):
    """Four 3 s executions run on the two worker groups; one group is killed -9 while it
    runs one: every execution still completes once, the killed one on a later attempt."""
    r = topology.api.post("/workflows", json={"name": "slow", "definition": SLOW_FLOW})
    assert r.status_code == 201, r.text
    wf = r.json()["id"]
    ids = []
    for _ in range(4):
        r = topology.api.post(f"/workflows/{wf}/run")
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    victim = topology.workers[0]
    victim_pids = set(victim.pids())

    def running_on_victim():
        return [j for j in _jobs(topology, ids) if j["status"] == "running"
                and j["worker_name"] and int(j["worker_name"].rsplit("-", 1)[1]) in victim_pids]

    hit = wait_for(running_on_victim, STEP_S, "an execution running on worker group a")[0]
    time.sleep(1.0)  # in the middle of its 3 s delay
    victim.kill9()
    assert victim.pids() == []
    def all_completed():
        jobs = _jobs(topology, ids)
        return jobs if all(j["status"] == "completed" for j in jobs) else None

    done = wait_for(all_completed, 90, "all four executions completed")
    by_id = {j["id"]: j for j in done}
    assert by_id[hit["id"]]["attempt"] >= 2, repr((hit, by_id[hit["id"]]))  # first attempt died
    assert int(by_id[hit["id"]]["worker_name"].rsplit("-", 1)[1]) not in victim_pids
    execution_ids = [j["execution_id"] for j in done]
    assert len(set(execution_ids)) == 4  # one execution each, none run twice to completion
    for ex in execution_ids:
        r = topology.api.get(f"/monitoring/executions/{ex}")
        assert r.status_code == 200 and r.json()["status"] == "completed", r.text


def _fire_times(runs: list[dict]) -> list[datetime]:
    return sorted(datetime.fromisoformat(r["trigger_payload"]["fired_at"]) for r in runs)


def test_active_scheduler_killed_standby_takes_over_no_duplicate_no_lost_fire(
        topology: Topology):
    """The leader is killed -9 a few seconds before a cron fire time: the standby holds the
    lease within the lease time, fires the fire time that fell into the gap (catch-up) and
    the next ones; every fire time from the first to the last fired once, none missed."""
    job_id = SCHEDULES["RSI Oversold Strategy"]
    leader = topology.leader()
    assert leader is not None
    standby = next(g for g in topology.schedulers if g is not leader)
    # kill 4 s before the next fire time (after the leader has fired at least once)
    wait_for(lambda: _completed_runs(topology, job_id), STEP_S, "a first cron fire")
    now = time.time()
    next_fire = (int(now) // CRON_PERIOD_S + 1) * CRON_PERIOD_S
    if next_fire - now < 5:
        next_fire += CRON_PERIOD_S
    time.sleep(max(0.0, next_fire - 4 - time.time()))
    killed_at = time.monotonic()
    leader.kill9()
    wait_for(lambda: topology.leader() is standby, LEASE_TTL_MS / 1000 + 5,
             "the standby to take the lease", poll=0.1)
    took = time.monotonic() - killed_at
    assert took <= LEASE_TTL_MS / 1000 + 2, took  # the lease lifetime + one standby retry
    gap_fire = datetime.fromtimestamp(next_fire, UTC)
    wait_for(lambda: any(t >= gap_fire for t in _fire_times(_completed_runs(topology, job_id))),
             STEP_S, "the fire time inside the failover gap")
    # and one more regular fire by the new leader
    wait_for(lambda: len([t for t in _fire_times(_completed_runs(topology, job_id))
                          if t > gap_fire]) >= 1, CRON_PERIOD_S + STEP_S / 2,
             "a regular fire after the failover")
    history = _history(topology, job_id)
    fired = _fire_times(history["runs"])
    assert len(fired) == len(set(fired)), fired  # no duplicate
    assert history["missed"] == [], history["missed"]  # nothing missed ...
    expected, t = [], fired[0]
    while t <= fired[-1]:
        expected.append(t)
        t = t.fromtimestamp(t.timestamp() + CRON_PERIOD_S, t.tzinfo)
    assert fired == expected  # ... and no fire time skipped between the first and the last
    assert gap_fire in fired
    caught_up = [r for r in history["runs"]
                 if datetime.fromisoformat(r["trigger_payload"]["fired_at"]) == gap_fire]
    assert caught_up[0]["trigger_payload"].get("catch_up") is True, caught_up
    assert all(r["status"] == "completed" for r in history["runs"]), history["runs"]


def test_templates_fired_by_the_active_scheduler_complete_on_the_workers(
        topology: Topology):
    """The schedulers fired all three (cron, price crossing, indicator; the market triggers'
    edge state survives the failover) and the workers completed them."""
    assert len(SCHEDULES) == 3
    for template, job_id in SCHEDULES.items():
        runs = wait_for(lambda j=job_id: _completed_runs(topology, j), 90,
                        f"a completed run of {template}",
                        details=lambda j=job_id: _trigger_details(topology, j))
        assert runs[0]["trigger_payload"]["scheduled_job_id"] == job_id
    alive = [g for g in topology.workers + topology.schedulers if g.proc.poll() is None]
    assert len(alive) == 2 and topology.backend.proc.poll() is None, topology.backend.tail()
