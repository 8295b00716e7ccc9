"""Trading sessions: schedules limited to an exchange's trading days or open hours, anchored to
the open or close (holidays and early closes), the FX week, 24/7 crypto, instruments' calendars.

Expected instants worked out by hand from the exchanges' published 2026 calendars:
  XNYS  09:30-16:00 America/New_York (EST = UTC-5 in Nov/Dec, EDT = UTC-4 in July);
        holidays 2026-07-03 (Independence Day observed), 2026-11-26 (Thanksgiving),
        2026-12-25 (Christmas); early closes 13:00 on 2026-11-27 and 2026-12-24.
  XLON  08:00-16:30 Europe/London (GMT in December); 2026-12-25 and 2026-12-28 (Boxing Day
        observed) closed, 2026-12-24 and 2026-12-31 close at 12:30.
  XETR  09:00-17:30 Europe/Berlin (CET); closed 2026-12-24, 12-25 and 12-31.
  XTKS  09:00-15:30 Asia/Tokyo (UTC+9), lunch break 11:30-12:30; closed 2026-12-31 to
        2027-01-04 (year-end holidays: first session 2027-01-04).
  FX    Sunday 17:00 to Friday 17:00 America/New_York.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.instrument_calendars import calendar_for
from agentic_app.domain.triggers import describe, next_fire_times, parse_trigger_config
from agentic_app.domain.triggers.session import allows
from agentic_app.market.instruments import DEFAULT_INSTRUMENTS
from agentic_app.settings import REPO_ROOT


def z(text: str) -> datetime:
    """'2026-12-24 17:45' as an aware UTC instant."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def fires(trigger_type: str, config: dict, after: str, count: int) -> list[str]:
    """The next fire times of a config, as 'YYYY-MM-DD HH:MM' UTC."""
    parsed = parse_trigger_config(trigger_type, config)
    return [t.strftime("%Y-%m-%d %H:%M") for t in next_fire_times(parsed, z(after), count)]


def test_nyse_holiday_skipped_on_trading_days_only():
    """A daily 10:00 New York job limited to XNYS trading days skips July 3 (holiday) and the
    weekend, Thanksgiving and Christmas."""
    config = {"cron_expression": "0 10 * * *", "timezone": "America/New_York",
              "session": {"calendar": "XNYS", "rule": "trading_days"}}
    assert fires("cron", config, "2026-07-01 00:00", 3) == [
        "2026-07-01 14:00", "2026-07-02 14:00", "2026-07-06 14:00"]
    assert fires("cron", config, "2026-11-25 00:00", 3) == [
        "2026-11-25 15:00", "2026-11-27 15:00", "2026-11-30 15:00"]
    assert fires("cron", config, "2026-12-24 00:00", 2) == ["2026-12-24 15:00", "2026-12-28 15:00"]
    plain = {k: v for k, v in config.items() if k != "session"}
    assert "2026-07-03 14:00" in fires("cron", plain, "2026-07-01 00:00", 3)


def test_nyse_early_close_shifts_the_before_close_run_and_ends_open_hours():
    """15 minutes before the close runs at 12:45 on the early-close days (13:00 close), 15:45
    otherwise; an hourly job limited to open hours stops at the early close."""
    before = {"cron_expression": "0 0 * * *",
              "session": {"calendar": "XNYS", "rule": "before_close", "offset_minutes": 15}}
    assert fires("cron", before, "2026-11-25 00:00", 3) == [
        "2026-11-25 20:45", "2026-11-27 17:45", "2026-11-30 20:45"]
    assert fires("cron", before, "2026-12-23 00:00", 3) == [
        "2026-12-23 20:45", "2026-12-24 17:45", "2026-12-28 20:45"]
    after = {"cron_expression": "0 0 * * 1-5",
             "session": {"symbol": "AAPL", "rule": "after_open", "offset_minutes": 30}}
    assert fires("cron", after, "2026-12-24 00:00", 2) == ["2026-12-24 15:00", "2026-12-28 15:00"]
    hourly = {"cron_expression": "0 * * * *", "timezone": "America/New_York",
              "session": {"calendar": "XNYS", "rule": "open_hours"}}
    assert fires("cron", hourly, "2026-12-24 15:30", 4) == [
        "2026-12-24 16:00", "2026-12-24 17:00", "2026-12-28 15:00", "2026-12-28 16:00"]


def test_day_fields_of_an_anchored_cron_select_the_days():
    """With before_close, '0 0 * * 5' keeps Friday sessions only (time fields unused)."""
    config = {"cron_expression": "30 7 * * 5",
              "session": {"calendar": "XNYS", "rule": "before_close", "offset_minutes": 0}}
    assert fires("cron", config, "2026-11-23 00:00", 2) == ["2026-11-27 18:00", "2026-12-04 21:00"]
    assert describe(parse_trigger_config("cron", config)) == (
        "At the close of XNYS, trading days matching '* * 5'")


def test_london_frankfurt_tokyo_holidays_and_breaks():
    """XLON skips Christmas and Boxing Day observed; XETR Christmas Eve and New Year's Eve;
    XTKS its year-end holidays, and its lunch break is not open hours."""
    lon = {"cron_expression": "0 9 * * *", "timezone": "Europe/London",
           "session": {"calendar": "XLON"}}
    assert fires("cron", lon, "2026-12-23 12:00", 3) == [
        "2026-12-24 09:00", "2026-12-29 09:00", "2026-12-30 09:00"]
    lon_close = {"cron_expression": "0 0 * * *",
                 "session": {"calendar": "XLON", "rule": "before_close", "offset_minutes": 10}}
    assert fires("cron", lon_close, "2026-12-30 00:00", 2) == [
        "2026-12-30 16:20", "2026-12-31 12:20"]
    xetr = {"cron_expression": "0 0 * * *",
            "session": {"calendar": "XETR", "rule": "after_open", "offset_minutes": 0}}
    assert fires("cron", xetr, "2026-12-22 12:00", 3) == [
        "2026-12-23 08:00", "2026-12-28 08:00", "2026-12-29 08:00"]
    tks = {"cron_expression": "0 0 * * *",
           "session": {"calendar": "XTKS", "rule": "after_open", "offset_minutes": 60}}
    assert fires("cron", tks, "2026-12-29 12:00", 2) == ["2026-12-30 01:00", "2027-01-04 01:00"]
    lunch = {"cron_expression": "0 * * * *", "timezone": "Asia/Tokyo",
             "session": {"calendar": "XTKS", "rule": "open_hours"}}
    # 09:00, 10:00, 11:00 JST, then 13:00 (12:00 is in the lunch break), 14:00, 15:00
    assert fires("cron", lunch, "2026-12-29 23:30", 6) == [
        "2026-12-30 00:00", "2026-12-30 01:00", "2026-12-30 02:00", "2026-12-30 04:00",
        "2026-12-30 05:00", "2026-12-30 06:00"]


def test_fx_weekend_skipped():
    """Every 4 hours on the FX week: Friday up to 17:00 New York, then from Sunday 17:00 New
    York (22:00 UTC in December); a daily 12:00 UTC job skips Saturday and Sunday."""
    interval = {"interval_minutes": 240, "start_at": "2026-12-04T00:00:00Z",
                "session": {"calendar": "FX", "rule": "open_hours"}}
    assert fires("time", interval, "2026-12-04 15:00", 3) == [
        "2026-12-04 16:00", "2026-12-04 20:00", "2026-12-07 00:00"]
    daily = {"cron_expression": "0 12 * * *", "session": {"symbol": "EURUSD"}}
    assert fires("cron", daily, "2026-12-04 00:00", 2) == ["2026-12-04 12:00", "2026-12-07 12:00"]
    sunday = {"cron_expression": "0 22 * * *", "session": {"calendar": "FX"}}
    assert fires("cron", sunday, "2026-12-04 23:00", 1) == ["2026-12-06 22:00"]


def test_crypto_runs_every_day():
    """A 24/7 symbol's schedule keeps every weekend and holiday fire."""
    config = {"cron_expression": "0 12 * * *", "session": {"symbol": "BTCUSDT",
                                                           "rule": "open_hours"}}
    assert fires("cron", config, "2026-12-24 13:00", 4) == [
        "2026-12-25 12:00", "2026-12-26 12:00", "2026-12-27 12:00", "2026-12-28 12:00"]


def test_market_trigger_session_defaults_to_its_symbol():
    """A price trigger on AAPL limited to open hours may fire in the session only; on
    BTCUSDT always."""
    aapl = parse_trigger_config("price", {"symbol": "AAPL", "condition": "price > 1",
                                          "session": {"rule": "open_hours"}})
    assert allows(aapl, z("2026-12-23 15:00")) and not allows(aapl, z("2026-12-25 15:00"))
    assert not allows(aapl, z("2026-12-24 18:30"))  # after the early close
    btc = parse_trigger_config("price", {"symbol": "BTCUSDT", "condition": "price > 1",
                                         "session": {"rule": "open_hours"}})
    assert allows(btc, z("2026-12-25 15:00"))
    assert describe(aapl).endswith(", only while XNYS is open")


def test_every_simulated_symbol_has_a_calendar():
    """The simulated feed's instruments map to the calendar of their market."""
    expected = {"fx": "FX", "metal": "FX", "crypto": "24/7", "equity": "XNYS"}
    for instrument in DEFAULT_INSTRUMENTS:
        assert calendar_for(instrument.symbol) == expected[instrument.kind]
    assert [calendar_for(s) for s in ("VOD.L", "SAP.DE", "7203.T", "BTC/USDT", "NZDCAD")] == [
        "XLON", "XETR", "XTKS", "24/7", "FX"]


@pytest.mark.parametrize(("trigger_type", "config", "field"), [
    ("cron", {"cron_expression": "0 9 * * *", "session": {"calendar": "XMARS"}},
     "trigger_config.session.calendar"),
    ("cron", {"cron_expression": "0 9 * * *", "session": {"rule": "trading_days"}},
     "trigger_config.session"),
    ("time", {"interval_minutes": 60, "session": {"calendar": "XNYS", "rule": "after_open"}},
     "trigger_config.session"),
    ("cron", {"cron_expression": "0 9 * * *", "session": {"calendar": "XNYS", "rule": "noon"}},
     "trigger_config.session.rule"),
    ("cron", {"cron_expression": "0 9 * * *",
              "session": {"calendar": "XNYS", "rule": "after_open", "offset_minutes": -5}},
     "trigger_config.session.offset_minutes"),
    ("price", {"symbol": "AAPL", "condition": "price > 1",
               "session": {"rule": "before_close"}}, "trigger_config.session"),
    ("webhook", {"session": {"calendar": "XNYS"}}, "trigger_config.session"),
])
def test_bad_session_names_the_field(trigger_type, config, field):
    """Unknown calendar or rule, no calendar for a cron, anchors off cron: the field named."""
    with pytest.raises(InvalidInputError) as info:
        parse_trigger_config(trigger_type, config)
    assert info.value.field == field


def test_calendar_library_loads_only_where_a_calendar_is_used():
    """Scheduler and worker modules, plain, FX and 24/7 schedules never load pandas or
    exchange_calendars (fresh interpreter); an exchange calendar does."""
    code = (
        "import sys\n"
        "import agentic_app.engine.scheduler.service, agentic_app.engine.runtime.tasks\n"
        "import agentic_app.engine.runtime.worker, agentic_app.market.indicators\n"
        "from datetime import UTC, datetime\n"
        "from agentic_app.domain.triggers import parse_trigger_config, next_fire_times\n"
        "now = datetime(2026, 12, 2, tzinfo=UTC)\n"
        "for session in (None, {'calendar': 'FX'}, {'symbol': 'BTCUSDT'}):\n"
        "    c = {'cron_expression': '0 9 * * *'} | ({'session': session} if session else {})\n"
        "    next_fire_times(parse_trigger_config('cron', c), now, 5)\n"
        "before = sorted(m for m in ('pandas', 'exchange_calendars') if m in sys.modules)\n"
        "c = {'cron_expression': '0 9 * * *', 'session': {'calendar': 'XNYS'}}\n"
        "next_fire_times(parse_trigger_config('cron', c), now, 5)\n"
        "after = sorted(m for m in ('pandas', 'exchange_calendars') if m in sys.modules)\n"
        "print(before, after)\n"
        "sys.exit(0 if before == [] and after == ['exchange_calendars', 'pandas'] else 1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dates_before_a_calendars_first_date_have_no_sessions():
    """XTKS can be evaluated from 1997-01-01 only: before, no runs; from then, its first
    sessions (1997-01-06 was the first trading day of 1997)."""
    config = {"cron_expression": "0 0 * * *",
              "session": {"calendar": "XTKS", "rule": "after_open"}}
    assert fires("cron", config, "1991-01-01 00:00", 1) == []
    assert fires("cron", config, "1996-12-01 00:00", 2) == ["1997-01-06 00:00", "1997-01-07 00:00"]
