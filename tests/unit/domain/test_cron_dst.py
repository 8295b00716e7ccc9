"""The DST table: cron fire times as UTC instants across daylight-saving transitions.

Every expected instant below was worked out by hand from the zone's rules, not by the code:
  Europe/Berlin        CET +01:00 / CEST +02:00; 2025: Mar 30 01:00Z, Oct 26 01:00Z;
                       2026: Mar 29 01:00Z, Oct 25 01:00Z (02:00->03:00 / 03:00->02:00 local).
  America/New_York     EST -05:00 / EDT -04:00; 2025: Mar 9 07:00Z, Nov 2 06:00Z;
                       2026: Mar 8 07:00Z, Nov 1 06:00Z (02:00->03:00 / 02:00->01:00 local).
  Australia/Lord_Howe  +10:30 / +11:00; DST ends 1st Sunday of April 02:00->01:30
                       (2025-04-05 15:00Z, 2026-04-04 15:00Z), starts 1st Sunday of October
                       02:00->02:30 (2025-10-04 15:30Z, 2026-10-03 15:30Z).
Rule under test (agentic_app/domain/cron_dst.py): wall-clock schedules (explicit second/minute/
hour values) run once per wall time — a missing time at the first instant after the gap, a
repeated time at its first occurrence; elapsed-time schedules (``*`` or ``/`` in those fields)
skip missing times and run at both occurrences of a repeated one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from agentic_app.domain.cron_dst import is_wall_clock, iter_cron_instants, wall_to_instants
from agentic_app.domain.triggers import next_fire_times, parse_trigger_config

BER, NY, LH = "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"


def z(text: str) -> datetime:
    """Parse a compact UTC instant such as '2025-03-30 01:00' or '2025-03-30 01:00:30'."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


# (id, zone, expression, after (UTC), expected UTC instants)
DST_TABLE = [
    # --- Europe/Berlin: daily 02:30 across both transitions of 2025 and 2026
    (
        "ber-0230-spring-2025",
        BER,
        "30 2 * * *",
        "2025-03-28 12:00",
        ["2025-03-29 01:30", "2025-03-30 01:00", "2025-03-31 00:30"],
    ),
    (
        "ber-0230-fall-2025",
        BER,
        "30 2 * * *",
        "2025-10-24 12:00",
        ["2025-10-25 00:30", "2025-10-26 00:30", "2025-10-27 01:30"],
    ),
    (
        "ber-0230-spring-2026",
        BER,
        "30 2 * * *",
        "2026-03-27 12:00",
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"],
    ),
    (
        "ber-0230-fall-2026",
        BER,
        "30 2 * * *",
        "2026-10-23 12:00",
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"],
    ),
    # hourly: the missing 02:00 is skipped, the repeated 02:00 runs twice (elapsed time)
    (
        "ber-hourly-spring-2025",
        BER,
        "0 * * * *",
        "2025-03-29 23:30",
        ["2025-03-30 00:00", "2025-03-30 01:00", "2025-03-30 02:00"],
    ),
    (
        "ber-hourly-fall-2025",
        BER,
        "0 * * * *",
        "2025-10-25 23:30",
        ["2025-10-26 00:00", "2025-10-26 01:00", "2025-10-26 02:00"],
    ),
    (
        "ber-15min-spring-2025",
        BER,
        "*/15 * * * *",
        "2025-03-30 00:40",
        ["2025-03-30 00:45", "2025-03-30 01:00", "2025-03-30 01:15"],
    ),
    (
        "ber-15min-fall-2025",
        BER,
        "*/15 * * * *",
        "2025-10-26 00:40",
        [
            "2025-10-26 00:45",
            "2025-10-26 01:00",
            "2025-10-26 01:15",
            "2025-10-26 01:30",
            "2025-10-26 01:45",
            "2025-10-26 02:00",
        ],
    ),
    # a list of fixed hours is wall-clock: 02:00 moves to 03:00 and merges with the real 03:00
    (
        "ber-list-spring-2025",
        BER,
        "0 1,2,3 * * *",
        "2025-03-29 12:00",
        ["2025-03-30 00:00", "2025-03-30 01:00", "2025-03-30 23:00"],
    ),
    (
        "ber-list-fall-2025",
        BER,
        "0 1,2,3 * * *",
        "2025-10-25 12:00",
        ["2025-10-25 23:00", "2025-10-26 00:00", "2025-10-26 02:00"],
    ),
    # 6-field, seconds first
    (
        "ber-6field-spring-2025",
        BER,
        "30 30 2 * * *",
        "2025-03-29 12:00",
        ["2025-03-30 01:00:00", "2025-03-31 00:30:30"],
    ),
    (
        "ber-6field-fall-2025",
        BER,
        "30 30 2 * * *",
        "2025-10-25 12:00",
        ["2025-10-26 00:30:30", "2025-10-27 01:30:30"],
    ),
    (
        "ber-6field-30min-fall-2025",
        BER,
        "0 */30 * * * *",
        "2025-10-26 00:10",
        ["2025-10-26 00:30", "2025-10-26 01:00", "2025-10-26 01:30", "2025-10-26 02:00"],
    ),
    # last day of month and a day-of-week list
    (
        "ber-last-day",
        BER,
        "30 2 L * *",
        "2025-02-01 00:00",
        ["2025-02-28 01:30", "2025-03-31 00:30", "2025-04-30 00:30"],
    ),
    (
        "ber-weekend-spring-2026",
        BER,
        "30 2 * * 0,6",
        "2026-03-27 12:00",
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-04-04 00:30"],
    ),
    # --- America/New_York
    (
        "ny-0230-spring-2025",
        NY,
        "30 2 * * *",
        "2025-03-07 12:00",
        ["2025-03-08 07:30", "2025-03-09 07:00", "2025-03-10 06:30"],
    ),
    (
        "ny-0230-fall-2025",
        NY,
        "30 2 * * *",
        "2025-10-31 12:00",
        ["2025-11-01 06:30", "2025-11-02 07:30", "2025-11-03 07:30"],
    ),
    (
        "ny-0230-spring-2026",
        NY,
        "30 2 * * *",
        "2026-03-06 12:00",
        ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"],
    ),
    (
        "ny-0230-fall-2026",
        NY,
        "30 2 * * *",
        "2026-10-30 12:00",
        ["2026-10-31 06:30", "2026-11-01 07:30", "2026-11-02 07:30"],
    ),
    # 01:30 occurs twice on fall-back: once, at 01:30 EDT (also go-cron PR #350's case)
    (
        "ny-0130-fall-2025",
        NY,
        "30 1 * * *",
        "2025-10-31 12:00",
        ["2025-11-01 05:30", "2025-11-02 05:30", "2025-11-03 06:30"],
    ),
    (
        "ny-0130-fall-2026",
        NY,
        "30 1 * * *",
        "2026-10-30 12:00",
        ["2026-10-31 05:30", "2026-11-01 05:30", "2026-11-02 06:30"],
    ),
    (
        "ny-hourly-fall-2025",
        NY,
        "0 * * * *",
        "2025-11-02 04:30",
        ["2025-11-02 05:00", "2025-11-02 06:00", "2025-11-02 07:00"],
    ),
    (
        "ny-30min-spring-2025",
        NY,
        "*/30 * * * *",
        "2025-03-09 06:20",
        ["2025-03-09 06:30", "2025-03-09 07:00", "2025-03-09 07:30"],
    ),
    # --- Australia/Lord_Howe (30-minute shift)
    (
        "lh-0200-spring-2025",
        LH,
        "0 2 * * *",
        "2025-10-03 12:00",
        ["2025-10-03 15:30", "2025-10-04 15:30", "2025-10-05 15:00"],
    ),
    (
        "lh-0215-spring-2025",
        LH,
        "15 2 * * *",
        "2025-10-04 12:00",
        ["2025-10-04 15:30", "2025-10-05 15:15"],
    ),
    (
        "lh-0130-fall-2025",
        LH,
        "30 1 * * *",
        "2025-04-04 12:00",
        ["2025-04-04 14:30", "2025-04-05 14:30", "2025-04-06 15:00"],
    ),
    (
        "lh-0230-fall-2025",
        LH,
        "30 2 * * *",
        "2025-04-04 12:00",
        ["2025-04-04 15:30", "2025-04-05 16:00", "2025-04-06 16:00"],
    ),
    (
        "lh-0230-spring-2025",
        LH,
        "30 2 * * *",
        "2025-10-03 12:00",
        ["2025-10-03 16:00", "2025-10-04 15:30", "2025-10-05 15:30"],
    ),
    (
        "lh-0200-spring-2026",
        LH,
        "0 2 * * *",
        "2026-10-02 12:00",
        ["2026-10-02 15:30", "2026-10-03 15:30", "2026-10-04 15:00"],
    ),
    (
        "lh-0130-fall-2026",
        LH,
        "30 1 * * *",
        "2026-04-03 12:00",
        ["2026-04-03 14:30", "2026-04-04 14:30", "2026-04-05 15:00"],
    ),
    (
        "lh-hourly-spring-2025",
        LH,
        "0 * * * *",
        "2025-10-04 14:00",
        ["2025-10-04 14:30", "2025-10-04 16:00", "2025-10-04 17:00"],
    ),
    (
        "lh-15min-fall-2025",
        LH,
        "*/15 * * * *",
        "2025-04-05 14:20",
        [
            "2025-04-05 14:30",
            "2025-04-05 14:45",
            "2025-04-05 15:00",
            "2025-04-05 15:15",
            "2025-04-05 15:30",
        ],
    ),
    # --- UTC: no transitions, plain cron semantics
    (
        "utc-0230-spring",
        "UTC",
        "30 2 * * *",
        "2025-03-29 12:00",
        ["2025-03-30 02:30", "2025-03-31 02:30"],
    ),
    (
        "utc-0230-fall",
        "UTC",
        "30 2 * * *",
        "2025-10-25 12:00",
        ["2025-10-26 02:30", "2025-10-27 02:30"],
    ),
    (
        "utc-last-day-leap",
        "UTC",
        "0 0 L * *",
        "2024-01-15 00:00",
        ["2024-01-31 00:00", "2024-02-29 00:00", "2024-03-31 00:00"],
    ),
    (
        "utc-dow-names",
        "UTC",
        "0 9 * * mon,wed,fri",
        "2025-06-01 00:00",
        ["2025-06-02 09:00", "2025-06-04 09:00", "2025-06-06 09:00"],
    ),
    (
        "utc-6field-20s",
        "UTC",
        "*/20 * * * * *",
        "2025-01-01 00:00:05",
        ["2025-01-01 00:00:20", "2025-01-01 00:00:40", "2025-01-01 00:01:00"],
    ),
    (
        "utc-feb-29",
        "UTC",
        "0 0 29 2 *",
        "2025-01-01 00:00",
        ["2028-02-29 00:00", "2032-02-29 00:00"],
    ),
    # --- cases from public bug reports
    # taichino/croniter#90: '1 2 * * *' near Berlin spring-forward jumped to the next day or 03:01
    (
        "croniter-90",
        BER,
        "1 2 * * *",
        "2020-03-29 00:59:55",
        ["2020-03-29 01:00", "2020-03-30 00:01"],
    ),
    (
        "croniter-90-earlier",
        BER,
        "1 2 * * *",
        "2020-03-29 00:58:55",
        ["2020-03-29 01:00", "2020-03-30 00:01"],
    ),
    # pallets-eco/croniter#25: daily 20:00 Paris after fall-back came out as 21:00
    (
        "croniter-25",
        "Europe/Paris",
        "00 20 * * *",
        "2022-10-29 22:00",
        ["2022-10-30 19:00", "2022-10-31 19:00", "2022-11-01 19:00"],
    ),
    # taichino/croniter#116: weekdays 08:00 New York across fall-back gave 09:00 / 07:00
    (
        "croniter-116",
        NY,
        "0 8 * * 1,2,3,4,5",
        "2018-11-01 13:00",
        ["2018-11-02 12:00", "2018-11-05 13:00", "2018-11-06 13:00"],
    ),
    # taichino/croniter#91: '30 * * * *' Vienna repeated timestamps after both transitions
    (
        "croniter-91-fall",
        "Europe/Vienna",
        "30 * * * *",
        "2017-10-28 22:05",
        [
            "2017-10-28 22:30",
            "2017-10-28 23:30",
            "2017-10-29 00:30",
            "2017-10-29 01:30",
            "2017-10-29 02:30",
        ],
    ),
    (
        "croniter-91-spring",
        "Europe/Vienna",
        "30 * * * *",
        "2017-03-25 23:40",
        ["2017-03-26 00:30", "2017-03-26 01:30", "2017-03-26 02:30"],
    ),
    # pallets-eco/croniter#258: hourly in Lord Howe; get_next/get_prev disagreed about 02:30
    ("croniter-258", LH, "0 * * * *", "2019-10-05 15:13", ["2019-10-05 16:00", "2019-10-05 17:00"]),
    # agronholm/apscheduler#115 test cases (US/Eastern 2013)
    (
        "apscheduler-115-absolute-spring",
        "US/Eastern",
        "0 8 * * *",
        "2013-03-09 17:00",
        ["2013-03-10 12:00"],
    ),
    (
        "apscheduler-115-interval-skipped-hour",
        "US/Eastern",
        "30 2 * * *",
        "2013-11-02 16:00",
        ["2013-11-03 07:30"],
    ),
    (
        "apscheduler-115-interval-spring",
        "US/Eastern",
        "*/30 * * * *",
        "2013-03-10 06:35",
        ["2013-03-10 07:00"],
    ),
    (
        "apscheduler-115-interval-autumn",
        "US/Eastern",
        "*/30 * * * *",
        "2013-11-03 05:35",
        ["2013-11-03 06:00", "2013-11-03 06:30"],
    ),
    # agronholm/apscheduler#1059: CronTrigger(hour=2) returned the non-existent 02:00
    (
        "apscheduler-1059-from-gap",
        "US/Eastern",
        "0 2 * * *",
        "2013-03-10 07:00",
        ["2013-03-11 06:00"],
    ),
    (
        "apscheduler-1059-before-gap",
        "US/Eastern",
        "0 2 * * *",
        "2013-03-10 06:59",
        ["2013-03-10 07:00", "2013-03-11 06:00"],
    ),
    # agronholm/apscheduler#529: weekday midnight skipped a day after a 23-hour day
    (
        "apscheduler-529",
        "America/Chicago",
        "0 0 * * 1-5",
        "2021-03-12 06:00:01",
        ["2021-03-15 05:00", "2021-03-16 05:00"],
    ),
    # agronholm/apscheduler#1021: minute=30 in Helsinki looped on the repeated hour
    (
        "apscheduler-1021",
        "Europe/Helsinki",
        "30 * * * *",
        "2017-10-29 01:45",
        ["2017-10-29 02:30", "2017-10-29 03:30"],
    ),
    (
        "apscheduler-1021-both",
        "Europe/Helsinki",
        "30 * * * *",
        "2017-10-29 00:10",
        ["2017-10-29 00:30", "2017-10-29 01:30", "2017-10-29 02:30"],
    ),
    # cronie-crond/cronie#218: weekly Sunday noon skipped the spring-forward Sunday
    ("cronie-218", BER, "0 12 * * 0", "2022-03-24 11:00", ["2022-03-27 10:00", "2022-04-03 10:00"]),
    # node-cron/node-cron#518: 02:30 in the NY gap overshot ~10 months (ours: 03:00 EDT)
    (
        "node-cron-518",
        NY,
        "30 2 * * *",
        "2026-03-08 06:30",
        ["2026-03-08 07:00", "2026-03-09 06:30"],
    ),
    # kelektiv/node-cron#1087: next date returned before the start inside the repeated hour
    ("node-cron-1087", NY, "30 1 * * *", "2026-11-01 06:00", ["2026-11-02 06:30"]),
    # harrisiirak/cron-parser#400: Sunday 08:00 Chicago skipped the spring-forward Sunday
    ("cron-parser-400", "America/Chicago", "0 8 * * 0", "2026-03-08 05:45", ["2026-03-08 13:00"]),
    # zslayton/cron#145: hourly must fire in both repeated hours, daily only once
    (
        "cron-rs-145-hourly",
        "America/Los_Angeles",
        "0 * * * *",
        "2025-11-02 07:30",
        ["2025-11-02 08:00", "2025-11-02 09:00", "2025-11-02 10:00"],
    ),
    (
        "cron-rs-145-daily",
        "America/Los_Angeles",
        "0 1 * * *",
        "2025-11-01 12:00",
        ["2025-11-02 08:00", "2025-11-03 09:00"],
    ),
]


@pytest.mark.parametrize(
    ("zone", "expression", "after", "expected"),
    [row[1:] for row in DST_TABLE],
    ids=[row[0] for row in DST_TABLE],
)
def test_dst_table(zone: str, expression: str, after: str, expected: list[str]) -> None:
    """Cron fire times match the hand-computed UTC instants of the DST table."""
    config = parse_trigger_config("cron", {"cron_expression": expression, "timezone": zone})
    got = next_fire_times(config, z(after), len(expected))
    assert got == [z(text) for text in expected]
    assert all(t.tzinfo is UTC for t in got)


@pytest.mark.parametrize("zone", [BER, NY, LH, "UTC"])
@pytest.mark.parametrize("expression", ["30 2 * * *", "0 2 * * *", "30 1 * * *", "15 2 * * *"])
def test_daily_job_runs_once_per_local_date(zone: str, expression: str) -> None:
    """A daily wall-clock job fires exactly once on every local date of 2025 and 2026."""
    tz = ZoneInfo(zone)
    start = datetime(2024, 12, 31, 12, tzinfo=tz)
    fires = list(islice(iter_cron_instants(expression, tz, start), 730))
    local_dates = [t.astimezone(tz).date() for t in fires]
    assert local_dates == [date(2025, 1, 1) + timedelta(days=i) for i in range(730)]
    assert all(b > a for a, b in pairwise(fires))


@pytest.mark.parametrize(
    ("zone", "after"),
    [
        (BER, "2025-03-29 12:00"),
        (BER, "2025-10-25 12:00"),
        (NY, "2025-03-08 12:00"),
        (NY, "2025-11-01 12:00"),
        (LH, "2025-04-04 12:00"),
        (LH, "2025-10-03 12:00"),
    ],
)
def test_quarter_hour_job_keeps_real_spacing(zone: str, after: str) -> None:
    """An every-15-minutes job fires every 15 real minutes through a transition, no gaps/dups."""
    fires = list(islice(iter_cron_instants("*/15 * * * *", ZoneInfo(zone), z(after)), 4 * 48))
    gaps = {b - a for a, b in pairwise(fires)}
    assert gaps == {timedelta(minutes=15)}


def test_every_fire_matches_the_expression_locally() -> None:
    """Every elapsed-time fire lands on a local wall time the expression names."""
    tz = ZoneInfo(BER)
    fires = list(islice(iter_cron_instants("5,35 */2 * * *", tz, z("2025-10-25 00:00")), 30))
    for fire in fires:
        local = fire.astimezone(tz)
        assert local.minute in (5, 35) and local.hour % 2 == 0


def test_fold_and_gap_mapping_of_single_wall_times() -> None:
    """wall_to_instants: repeated times give 1 or 2 instants, missing ones the gap end or none."""
    tz = ZoneInfo(BER)
    repeated = datetime(2025, 10, 26, 2, 30)
    missing = datetime(2025, 3, 30, 2, 30)
    assert wall_to_instants(repeated, tz, wall_clock=True) == [z("2025-10-26 00:30")]
    assert wall_to_instants(repeated, tz, wall_clock=False) == [
        z("2025-10-26 00:30"),
        z("2025-10-26 01:30"),
    ]
    assert wall_to_instants(missing, tz, wall_clock=True) == [z("2025-03-30 01:00")]
    assert wall_to_instants(missing, tz, wall_clock=False) == []


@pytest.mark.parametrize(
    ("expression", "wall_clock"),
    [
        ("30 2 * * *", True),
        ("0 9,17 * * *", True),
        ("0 9-17 * * 1-5", True),
        ("30 30 2 * * *", True),
        ("0 * * * *", False),
        ("*/15 * * * *", False),
        ("0 */2 * * *", False),
        ("* 2 * * *", False),
        ("*/10 30 2 * * *", False),
    ],
)
def test_wall_clock_classification(expression: str, wall_clock: bool) -> None:
    """Explicit second/minute/hour values are wall-clock; any '*' or '/' there is elapsed-time."""
    assert is_wall_clock(expression) is wall_clock


def test_after_inside_first_occurrence_still_sees_second_occurrences() -> None:
    """Starting inside the first repeated hour, the second occurrences are not lost."""
    instants = iter_cron_instants("0,30 * * * *", ZoneInfo(BER), z("2025-10-26 00:10"))
    fires = list(islice(instants, 4))
    assert fires == [
        z("2025-10-26 00:30"),
        z("2025-10-26 01:00"),
        z("2025-10-26 01:30"),
        z("2025-10-26 02:00"),
    ]
