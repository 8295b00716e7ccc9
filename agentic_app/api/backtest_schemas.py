"""Request and response models of the trigger backtest route."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from agentic_app.api.schedule_schemas import ChartPoint
from agentic_app.api.schemas import IdInt, JsonObject, Public
from agentic_app.services.app import MAX_BACKTEST_DAYS


class BacktestRequest(BaseModel):
    """A price or indicator trigger (or one of the user's saved jobs) and a window."""

    trigger_type: Literal["price", "indicator"] | None = Field(
        None, description="with trigger_config; or give job_id")
    trigger_config: JsonObject | None = None
    job_id: IdInt | None = Field(None, description="backtest this saved job's trigger")
    days: float = Field(30, gt=0, le=MAX_BACKTEST_DAYS,
                        description=f"window length, at most {MAX_BACKTEST_DAYS} days")
    end: datetime | None = Field(None, description="end of the window (ISO-8601, naive = "
                                 "UTC); default and latest: now")


class BacktestFire(Public):
    """One would-be fire: the bar close it fired at, its bar, the price that crossed (the
    bar's low, high or close), and the values the condition read."""

    time: datetime
    bar_ts: datetime
    price: float
    point: Literal["low", "high", "close"]
    values: dict[str, float | None]


class BacktestPublic(Public):
    """Every would-be fire over the window (``fires`` lists at most 1000; ``count`` is all
    of them), and a chart of the window with the fires marked."""

    trigger_type: Literal["price", "indicator"]
    symbol: str
    description: str
    indicator: str
    timeframe: str
    start: datetime
    end: datetime
    days: float
    count: int = Field(description="fires that would have run")
    market_closed: int = Field(description="fires outside the trigger's trading session: "
                               "recorded as skipped, not run")
    truncated: bool
    fires: list[BacktestFire]
    bars: int = Field(description="bars of the window evaluated")
    steps: int = Field(description="evaluations where the trigger's inputs changed")
    errors: list[str]
    chart: list[ChartPoint]
    elapsed_ms: float
