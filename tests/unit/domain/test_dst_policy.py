"""DST policy per cron schedule: every policy on both transitions of Europe/Berlin and
America/New_York, the default left as it was, and the preview's note on the next change.

Expected instants worked out by hand from the zones' rules:
  Europe/Berlin     2026-10-25 01:00Z  03:00 CEST -> 02:00 CET  (02:00-02:59 occurs twice)
                    2027-03-28 01:00Z  02:00 CET -> 03:00 CEST  (02:00-02:59 does not exist)
  America/New_York  2026-11-01 06:00Z  02:00 EDT -> 01:00 EST   (01:00-01:59 occurs twice)
                    2027-03-14 07:00Z  02:00 EST -> 03:00 EDT   (02:00-02:59 does not exist)
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.triggers import next_fire_times, parse_trigger_config

BER, NY = "Europe/Berlin", "America/New_York"


def z(text: str) -> datetime:
    """'2027-03-28 01:30' as an aware UTC instant."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def cron(expression: str, tz: str, policy: dict | None = None):
    """A parsed cron config with an optional dst_policy."""
    body = {"cron_expression": expression, "timezone": tz}
    if policy is not None:
        body["dst_policy"] = policy
    return parse_trigger_config("cron", body)


# (id, zone, expression, policy, after, expected next three fires)
CASES = [
    # --- spring-forward, a daily time inside the gap
    ("ber-spring-default", BER, "30 2 * * *", None, "2027-03-27 12:00",
     ["2027-03-28 01:00", "2027-03-29 00:30", "2027-03-30 00:30"]),
    ("ber-spring-shift", BER, "30 2 * * *", {"nonexistent": "shift"}, "2027-03-27 12:00",
     ["2027-03-28 01:30", "2027-03-29 00:30", "2027-03-30 00:30"]),
    ("ber-spring-skip", BER, "30 2 * * *", {"nonexistent": "skip"}, "2027-03-27 12:00",
     ["2027-03-29 00:30", "2027-03-30 00:30", "2027-03-31 00:30"]),
    ("ny-spring-default", NY, "30 2 * * *", None, "2027-03-13 12:00",
     ["2027-03-14 07:00", "2027-03-15 06:30", "2027-03-16 06:30"]),
    ("ny-spring-shift", NY, "30 2 * * *", {"nonexistent": "shift"}, "2027-03-13 12:00",
     ["2027-03-14 07:30", "2027-03-15 06:30", "2027-03-16 06:30"]),
    ("ny-spring-skip", NY, "30 2 * * *", {"nonexistent": "skip"}, "2027-03-13 12:00",
     ["2027-03-15 06:30", "2027-03-16 06:30", "2027-03-17 06:30"]),
    # --- fall-back, a daily time inside the overlap
    ("ber-fall-default", BER, "30 2 * * *", None, "2026-10-24 12:00",
     ["2026-10-25 00:30", "2026-10-26 01:30", "2026-10-27 01:30"]),
    ("ber-fall-first", BER, "30 2 * * *", {"ambiguous": "first"}, "2026-10-24 12:00",
     ["2026-10-25 00:30", "2026-10-26 01:30", "2026-10-27 01:30"]),
    ("ber-fall-second", BER, "30 2 * * *", {"ambiguous": "second"}, "2026-10-24 12:00",
     ["2026-10-25 01:30", "2026-10-26 01:30", "2026-10-27 01:30"]),
    ("ny-fall-default", NY, "30 1 * * *", None, "2026-10-31 12:00",
     ["2026-11-01 05:30", "2026-11-02 06:30", "2026-11-03 06:30"]),
    ("ny-fall-first", NY, "30 1 * * *", {"ambiguous": "first"}, "2026-10-31 12:00",
     ["2026-11-01 05:30", "2026-11-02 06:30", "2026-11-03 06:30"]),
    ("ny-fall-second", NY, "30 1 * * *", {"ambiguous": "second"}, "2026-10-31 12:00",
     ["2026-11-01 06:30", "2026-11-02 06:30", "2026-11-03 06:30"]),
    # --- elapsed-time schedules: default runs both occurrences; a policy picks one
    ("ber-halfhourly-fall-default", BER, "*/30 * * * *", None, "2026-10-24 23:45",
     ["2026-10-25 00:00", "2026-10-25 00:30", "2026-10-25 01:00", "2026-10-25 01:30",
      "2026-10-25 02:00"]),
    ("ber-halfhourly-fall-first", BER, "*/30 * * * *", {"ambiguous": "first"},
     "2026-10-24 23:45", ["2026-10-25 00:00", "2026-10-25 00:30", "2026-10-25 02:00"]),
    ("ber-halfhourly-fall-second", BER, "*/30 * * * *", {"ambiguous": "second"},
     "2026-10-24 23:45", ["2026-10-25 01:00", "2026-10-25 01:30", "2026-10-25 02:00"]),
    ("ny-halfhourly-fall-second", NY, "*/30 * * * *", {"ambiguous": "second"},
     "2026-11-01 04:45", ["2026-11-01 06:00", "2026-11-01 06:30", "2026-11-01 07:00"]),
    # both keys at once, and a policy where no DST change happens (no effect)
    ("ber-both-keys", BER, "30 2 * * *", {"ambiguous": "second", "nonexistent": "skip"},
     "2027-03-27 12:00", ["2027-03-29 00:30", "2027-03-30 00:30", "2027-03-31 00:30"]),
    ("ber-summer-shift", BER, "30 2 * * *", {"nonexistent": "shift"}, "2027-06-01 12:00",
     ["2027-06-02 00:30", "2027-06-03 00:30", "2027-06-04 00:30"]),
]


@pytest.mark.parametrize(("zone", "expression", "policy", "after", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_policy_fire_times(zone, expression, policy, after, expected):
    """Each policy gives the hand-worked instants; the result is strictly increasing."""
    times = next_fire_times(cron(expression, zone, policy), z(after), len(expected))
    assert times == [z(t) for t in expected]
    assert all(a < b for a, b in pairwise(times))


def test_default_policy_is_the_rule_of_cron_dst():
    """An empty policy and no policy give the same fire times as before (the default)."""
    for expression in ("30 2 * * *", "*/30 * * * *", "0 9 * * 1-5"):
        for zone, after in ((BER, "2027-03-27 12:00"), (NY, "2026-10-31 12:00")):
            plain = next_fire_times(cron(expression, zone), z(after), 20)
            empty = next_fire_times(cron(expression, zone, {}), z(after), 20)
            nulls = next_fire_times(cron(expression, zone,
                                         {"ambiguous": None, "nonexistent": None}), z(after), 20)
            assert plain == empty == nulls


@pytest.mark.parametrize(("policy", "field"), [
    ({"ambiguous": "both"}, "trigger_config.dst_policy.ambiguous"),
    ({"nonexistent": "later"}, "trigger_config.dst_policy.nonexistent"),
    ({"sometimes": "first"}, "trigger_config.dst_policy.sometimes"),
    ("first", "trigger_config.dst_policy"),
])
def test_bad_policy_names_the_field(policy, field):
    """A bad policy is refused naming the exact field."""
    with pytest.raises(InvalidInputError) as info:
        cron("30 2 * * *", BER, policy)
    assert info.value.field == field


NOTES = [
    (BER, "30 2 * * *", {"nonexistent": "shift"}, "2027-01-10 00:00",
     "2027-03-28 02:30 does not exist in Europe/Berlin (clocks jump 02:00 -> 03:00): "
     "runs at 03:30"),
    (BER, "30 2 * * *", {"nonexistent": "skip"}, "2027-01-10 00:00",
     "2027-03-28 02:30 does not exist in Europe/Berlin (clocks jump 02:00 -> 03:00): skipped"),
    (BER, "30 2 * * *", None, "2027-01-10 00:00",
     "2027-03-28 02:30 does not exist in Europe/Berlin (clocks jump 02:00 -> 03:00): "
     "runs at 03:00"),
    (BER, "30 2 * * *", None, "2026-06-01 00:00",
     "2026-10-25 02:30 occurs twice in Europe/Berlin (clocks go back 03:00 -> 02:00): "
     "runs at the first occurrence (02:30 CEST)"),
    (BER, "30 2 * * *", {"ambiguous": "second"}, "2026-06-01 00:00",
     "2026-10-25 02:30 occurs twice in Europe/Berlin (clocks go back 03:00 -> 02:00): "
     "runs at the second occurrence (02:30 CET)"),
    (NY, "30 1 * * *", {"ambiguous": "second"}, "2026-06-01 00:00",
     "2026-11-01 01:30 occurs twice in America/New_York (clocks go back 02:00 -> 01:00): "
     "runs at the second occurrence (01:30 EST)"),
    (NY, "0 * * * *", None, "2026-06-01 00:00",
     "2026-11-01 01:00 occurs twice in America/New_York (clocks go back 02:00 -> 01:00): "
     "runs at both (01:00 EDT and 01:00 EST)"),
    (NY, "30 2 * * *", {"nonexistent": "shift"}, "2027-01-10 00:00",
     "2027-03-14 02:30 does not exist in America/New_York (clocks jump 02:00 -> 03:00): "
     "runs at 03:30"),
    (NY, "0 9 * * *", None, "2027-01-10 00:00",
     "next DST change in America/New_York on 2027-03-14 (clocks jump 02:00 -> 03:00): "
     "no run affected"),
]


@pytest.mark.parametrize(("zone", "expression", "policy", "after", "expected"), NOTES)
def test_preview_note_on_next_transition(zone, expression, policy, after, expected):
    """The note names the affected wall time and what the policy does with it."""
    assert cron(expression, zone, policy).dst_note(z(after)) == expected


def test_note_counts_more_affected_times_and_none_without_dst():
    """Several affected times are counted; a zone without DST has no note."""
    note = cron("*/15 * * * *", BER).dst_note(z("2027-01-10 00:00"))
    assert note.startswith("2027-03-28 02:00 does not exist") and "3 more" in note
    assert cron("30 2 * * *", "UTC").dst_note(z("2027-01-10 00:00")) is None
