"""Time ``GET <url>`` every HEALTH_GAP_S until stopped (or for at most a number of seconds), in
a process of its own so the load generator's work does not slow the measurement down. Prints
one JSON line per request as it goes: ``{"ms": answer time, "failure": text or null}``.

Usage: ``python -m tests.security.health_probe URL MAX_SECONDS TIMEOUT_S``
"""

from __future__ import annotations

import json
import sys
import time

import httpx

HEALTH_GAP_S = 0.05
"""Pause between two requests."""


def probe(url: str, seconds: float, timeout_s: float) -> None:
    """Request ``url`` until ``seconds`` have passed, printing each answer's time."""
    end = time.monotonic() + seconds
    with httpx.Client(timeout=timeout_s) as client:
        while time.monotonic() < end:
            failure = None
            start = time.perf_counter()
            try:
                status = client.get(url).status_code
                if status != 200:
                    failure = f"HTTP {status}"
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            print(json.dumps({"ms": (time.perf_counter() - start) * 1000, "failure": failure}),
                  flush=True)
            time.sleep(HEALTH_GAP_S)


if __name__ == "__main__":
    probe(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
