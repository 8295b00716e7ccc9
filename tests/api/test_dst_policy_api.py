"""DST policy through the REST API: stored with the schedule, shown in the job and the preview
(with the note on the next DST change), refused with a 422 naming the field."""

from __future__ import annotations

from tests.api.conftest import API, CRON_TEMPLATE


def test_job_with_dst_policy_shows_the_next_transition(any_env):
    """A cron job with a policy keeps it, and its view says what the next change does;
    PUT changes the policy and the note follows."""
    env, c = any_env, any_env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    job = env.schedule(alice, wf, "cron", cron_expression="0 9 * * *",
                       timezone="UTC", dst_policy={"nonexistent": "skip"})
    assert job["trigger_config"]["dst_policy"] == {"nonexistent": "skip", "ambiguous": None}
    assert job["dst_note"] is None  # UTC has no DST change
    resp = c.put(f"{API}/scheduler/jobs/{job['id']}", headers=alice, json={
        "trigger_config": {"dst_policy": {"ambiguous": "second"}}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["trigger_config"]["dst_policy"] == {"ambiguous": "second", "nonexistent": None}


def test_bad_dst_policy_is_a_422_naming_the_field(env):
    """Unknown values or keys: 422 naming trigger_config.dst_policy.<key>; nothing created."""
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    for policy, field in (({"ambiguous": "both"}, "trigger_config.dst_policy.ambiguous"),
                          ({"nonexistent": "x" * 5000}, "trigger_config.dst_policy.nonexistent"),
                          ({"when": "first"}, "trigger_config.dst_policy.when"),
                          ([1, 2], "trigger_config.dst_policy")):
        resp = env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
            "workflow_id": wf, "trigger_type": "cron",
            "trigger_config": {"dst_policy": policy}})
        assert resp.status_code == 422, (policy, resp.text)
        assert resp.json()["field"] == field
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0


def test_preview_applies_the_policy_and_names_the_transition(env):
    """GET /scheduler/preview with dst_nonexistent=shift: 02:30 Berlin on the spring-forward
    day runs at 03:30 CEST (01:30Z), and the note says so; skip leaves that day out."""
    _, alice = env.user("alice")
    base = {"cron_expression": "30 2 * * *", "timezone": "Europe/Berlin",
            "start": "2027-03-27T12:00:00Z", "count": 2}
    shift = env.client.get(f"{API}/scheduler/preview", headers=alice,
                           params={**base, "dst_nonexistent": "shift"})
    assert shift.status_code == 200, shift.text
    assert shift.json()["next_runs"] == ["2027-03-28T01:30:00Z", "2027-03-29T00:30:00Z"]
    assert shift.json()["dst_note"] == (
        "2027-03-28 02:30 does not exist in Europe/Berlin (clocks jump 02:00 -> 03:00): "
        "runs at 03:30")
    skip = env.client.get(f"{API}/scheduler/preview", headers=alice,
                          params={**base, "dst_nonexistent": "skip"}).json()
    assert skip["next_runs"] == ["2027-03-29T00:30:00Z", "2027-03-30T00:30:00Z"]
    assert skip["dst_note"].endswith(": skipped")


def test_preview_bad_or_oversized_policy_and_anonymous(env):
    """A bad or oversized policy value is a 422 naming the query field; no token is a 401."""
    _, alice = env.user("alice")
    base = {"cron_expression": "30 2 * * *", "timezone": "Europe/Berlin"}
    for params, field in (({"dst_ambiguous": "both"}, "dst_ambiguous"),
                          ({"dst_nonexistent": "later"}, "dst_nonexistent"),
                          ({"dst_ambiguous": "f" * 10_000}, "dst_ambiguous")):
        resp = env.client.get(f"{API}/scheduler/preview", headers=alice,
                              params={**base, **params})
        assert resp.status_code == 422, (params, resp.text)
        assert field in resp.text
    anon = env.client.get(f"{API}/scheduler/preview", params={**base, "dst_ambiguous": "first"})
    assert anon.status_code == 401
