"""The dialog's backtest panel never stays 'running' after a failure, refuses an oversized or
nested form before reading it, and page-sent ids are parsed without raising."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from agentic_app.services.app import Actor
from agentic_app.state import backtest
from agentic_app.state.backtest import BacktestState, _small_form
from agentic_app.state.common import parse_id


def _tab(**extra) -> SimpleNamespace:
    return SimpleNamespace(days="7", points=[], count=0, window_days="", error="",
                           running=False, _request=0, _actor=lambda: Actor(id=3),
                           _trigger=("price", {"symbol": "BTC"}), **extra)


def test_unexpected_failure_clears_running(monkeypatch) -> None:
    """A non-AgenticError from the facade is raised on, yet the panel stops spinning and says so."""

    def boom(*args, **kwargs):
        raise RuntimeError("feed exploded")

    services = SimpleNamespace(triggers=SimpleNamespace(backtest=boom))
    monkeypatch.setattr(backtest, "app", lambda: services)
    tab = _tab()
    with pytest.raises(RuntimeError):
        asyncio.run(BacktestState._run(tab))
    assert tab.running is False
    assert tab.error == "the backtest failed unexpectedly"


def test_success_clears_running(monkeypatch) -> None:
    services = SimpleNamespace(triggers=SimpleNamespace(
        backtest=lambda *a, **k: {"chart": [{"t": 1}], "count": 1, "days": 7.0}))
    monkeypatch.setattr(backtest, "app", lambda: services)
    tab = _tab()
    asyncio.run(BacktestState._run(tab))
    assert (tab.running, tab.count, tab.window_days, tab.points) == (False, 1, "7", [{"t": 1}])


def test_form_bounded_before_repr() -> None:
    assert _small_form({"symbol": "BTC", "params": {"length": 14.0}, "above": 3})
    assert not _small_form({"params": {"inner": {"deep": 1}}})
    assert not _small_form({f"k{i}": i for i in range(1000)})
    assert not _small_form({"symbol": "x" * 100_000})
    assert not _small_form({"symbol": ["a"] * 10})
    assert not _small_form("not a dict")
    assert not _small_form({"a": "x" * 3000, "b": "y" * 3000})  # repr over the cap


@pytest.mark.parametrize("raw,expected", [("42", 42), (42, 42), ("abc", 0), ("", 0),
                                          ("-1", 0), ("9" * 10_000, 999_999_999_999),
                                          (None, 0), ("1e9", 0)])
def test_parse_id(raw, expected) -> None:
    """Non-numeric ids are 0 (the facade says not found); huge ones are cut, never raise."""
    assert parse_id(raw) == expected
