"""Cost of the trading calendars: library import, first use of a calendar, and queries.

``python bench/calendar_bench.py`` prints, each in a fresh interpreter where a cold start
matters: the import of the scheduler and worker modules (with and without a calendar-limited
schedule), ``exchange_calendars`` alone, and the first fire-time computation on XNYS (one
5-year chunk of sessions). Then, warm: ``is_open`` per call and ``next_fire_times`` of 100
runs for each session rule.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5

COLD = {
    "scheduler + worker modules, plain cron": (
        "import agentic_app.engine.scheduler.service, agentic_app.engine.runtime.worker\n"
        "from agentic_app.domain.triggers import parse_trigger_config, next_fire_times\n"
        "c = parse_trigger_config('cron', {'cron_expression': '0 9 * * *'})\n"
        "next_fire_times(c, NOW, 5)\n"),
    "import exchange_calendars": "import exchange_calendars\n",
    "first XNYS schedule (import + 5-year chunk)": (
        "from agentic_app.domain.triggers import parse_trigger_config, next_fire_times\n"
        "c = parse_trigger_config('cron', {'cron_expression': '0 9 * * *',\n"
        "                                  'session': {'calendar': 'XNYS'}})\n"
        "next_fire_times(c, NOW, 5)\n"),
}


def _cold(code: str) -> float:
    """Seconds the snippet takes in a fresh interpreter (after the interpreter's own start)."""
    script = ("import time; from datetime import UTC, datetime\n"
              "NOW = datetime(2026, 12, 2, tzinfo=UTC)\n"
              "t0 = time.perf_counter()\n" + code + "print(time.perf_counter() - t0)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def _warm() -> None:
    sys.path.insert(0, str(ROOT))
    from agentic_app.domain.sessions import get_calendar
    from agentic_app.domain.triggers import next_fire_times, parse_trigger_config

    now = datetime(2026, 12, 2, tzinfo=UTC)
    cal = get_calendar("XNYS")
    cal.is_open(now)
    n = 20_000
    started = time.perf_counter()
    for i in range(n):
        cal.is_open(datetime.fromtimestamp(now.timestamp() + i * 97, UTC))
    print(f"XNYS is_open: {(time.perf_counter() - started) / n * 1e6:.1f} us per call")
    configs = {
        "daily 10:00, trading_days": {"cron_expression": "0 10 * * *",
                                      "timezone": "America/New_York",
                                      "session": {"calendar": "XNYS"}},
        "every 5 min, open_hours": {"cron_expression": "*/5 * * * *",
                                    "session": {"calendar": "XNYS", "rule": "open_hours"}},
        "before_close 15 min": {"cron_expression": "0 0 * * *", "session": {
            "calendar": "XNYS", "rule": "before_close", "offset_minutes": 15}},
        "hourly, FX open_hours": {"cron_expression": "0 * * * *",
                                  "session": {"calendar": "FX", "rule": "open_hours"}},
        "daily 10:00, no session": {"cron_expression": "0 10 * * *"},
    }
    for name, body in configs.items():
        config = parse_trigger_config("cron", body)
        runs = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            next_fire_times(config, now, 100)
            runs.append(time.perf_counter() - started)
        print(f"next_fire_times x100, {name}: {statistics.median(runs) * 1000:.1f} ms")


def main() -> None:
    """Print the cold and warm figures."""
    for name, code in COLD.items():
        runs = sorted(_cold(code) for _ in range(3))
        print(f"cold, {name}: median {runs[1]:.2f} s (runs {', '.join(f'{r:.2f}' for r in runs)})")
    _warm()


if __name__ == "__main__":
    main()
