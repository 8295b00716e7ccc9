"""The trigger model: one place for everything a trigger type is and does.

Five trigger types, each a frozen pydantic model (``extra="forbid"``) that is its config schema
with defaults, its validation and its description:

* ``cron`` (alias ``schedule``) and ``time`` (alias ``interval``): :mod:`.schedule` — cron
  syntax, IANA timezone, DST-correct fire times, interval anchoring and jitter.
* ``price`` and ``indicator``: :mod:`.market` — symbol, condition (checked against exactly the
  names the watcher provides, :func:`condition_names`), indicator params (checked against the
  indicator's schema in ``domain.indicators``), cooldown, expiry, max fires, re-arm band.
  How they evaluate: :mod:`.rules` (:func:`compile_rule`, the vector form); their edge logic
  (crossing, re-arm, cooldown, max fires, expiry): :mod:`.edge`; which prices and bars they
  see (bar semantics): :mod:`.bars`.
* ``webhook``: :mod:`.webhook`.

:mod:`.config` parses any of them (:func:`parse_trigger_config`, errors naming
``trigger_config.<field>``) and gives fire times and descriptions. The rule: a config that
parses can always be scheduled and evaluated.
"""

from agentic_app.domain.triggers.base import (
    MARKET_TRIGGERS,
    MAX_INTERVAL_MINUTES,
    MAX_PREVIEW_COUNT,
    MAX_WEBHOOK_BODY_BYTES,
    MIN_INTERVAL_MINUTES,
    PRIORITY_NAMES,
    TIME_TRIGGERS,
    TRIGGER_TYPE_ALIASES,
    priority_level,
    validate_timezone,
)
from agentic_app.domain.triggers.config import (
    MarketTriggerConfig,
    ScheduledTriggerConfig,
    TriggerConfig,
    canonical_type,
    describe,
    next_fire_time,
    next_fire_times,
    parse_trigger_config,
)
from agentic_app.domain.triggers.market import (
    INDICATOR_FUNCTIONS,
    IndicatorTriggerConfig,
    PriceTriggerConfig,
    check_condition,
    condition_names,
    normalize_indicator_call,
    parse_condition,
)
from agentic_app.domain.triggers.rules import MarketRule, compile_rule
from agentic_app.domain.triggers.schedule import (
    CronTriggerConfig,
    IntervalTriggerConfig,
    check_schedule_period,
    describe_cron,
    shortest_cron_period,
    validate_cron,
)
from agentic_app.domain.triggers.webhook import WebhookTriggerConfig

__all__ = [
    "INDICATOR_FUNCTIONS",
    "MARKET_TRIGGERS",
    "MAX_INTERVAL_MINUTES",
    "MAX_PREVIEW_COUNT",
    "MAX_WEBHOOK_BODY_BYTES",
    "MIN_INTERVAL_MINUTES",
    "PRIORITY_NAMES",
    "TIME_TRIGGERS",
    "TRIGGER_TYPE_ALIASES",
    "CronTriggerConfig",
    "IndicatorTriggerConfig",
    "IntervalTriggerConfig",
    "MarketRule",
    "MarketTriggerConfig",
    "PriceTriggerConfig",
    "ScheduledTriggerConfig",
    "TriggerConfig",
    "WebhookTriggerConfig",
    "canonical_type",
    "check_condition",
    "check_schedule_period",
    "compile_rule",
    "condition_names",
    "describe",
    "describe_cron",
    "next_fire_time",
    "next_fire_times",
    "normalize_indicator_call",
    "parse_condition",
    "parse_trigger_config",
    "priority_level",
    "shortest_cron_period",
    "validate_cron",
    "validate_timezone",
]
