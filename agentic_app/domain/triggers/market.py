"""Market triggers: ``price`` and ``indicator`` configs, and the names their conditions may use.

A config that validates can always be evaluated: its condition is parsed here with exactly the
names the watcher provides (:func:`condition_names`), and indicator params are checked against
the indicator's schema (``domain.indicators``, the bounds TA-Lib needs).

Indicator conditions may name ``price`` (the close), the indicator (its main output: ``rsi``,
``macd``, the middle band for ``bbands``) and every output both bare and dotted (``upper``,
``bbands.upper``, ``signal``, ``macd.signal``, ``hist``). The call form ``RSI(14) < 30`` is
accepted and normalised: indicator and params come from the one call, the condition becomes
``rsi < 30``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agentic_app.domain import conditions
from agentic_app.domain.conditions import Condition
from agentic_app.domain.errors import ConditionError, InvalidInputError
from agentic_app.domain.indicators import INDICATOR_SCHEMAS, TIMEFRAMES, indicator_schema
from agentic_app.domain.triggers.base import TriggerBase, UtcDatetime, field_error
from agentic_app.domain.triggers.session import SessionLimit, check_session

PRICE_NAME = "price"
"""The name of the current price in every market condition (the close for indicators)."""
PRICE_NAMES = frozenset({PRICE_NAME})
"""Names a price trigger's condition may use."""
INDICATOR_FUNCTIONS = tuple(INDICATOR_SCHEMAS)
"""Indicator names usable in the call form, e.g. ``rsi(14) < 30``."""
CONDITION_FIELD = "trigger_config.condition"
"""The field condition errors name (as the API reports it)."""
ONE_CALL_MESSAGE = "an indicator trigger watches one indicator: use one call, e.g. 'rsi(14) < 30'"

_SYMBOL_RE = re.compile(r"^[A-Z0-9._/-]{2,20}$")


def _not_blank(value: str) -> str:
    """Strip a condition; refuse a blank one."""
    if not value.strip():
        raise ValueError("condition must not be blank")
    return value.strip()


ConditionText = Annotated[str, Field(min_length=1, max_length=conditions.MAX_LENGTH),
                          AfterValidator(_not_blank)]
TimeframeName = Literal[tuple(TIMEFRAMES)]  # type: ignore[valid-type]
IndicatorName = Literal[tuple(INDICATOR_SCHEMAS)]  # type: ignore[valid-type]


def condition_names(indicator: str) -> dict[str, str]:
    """Names an ``indicator`` trigger's condition may use -> the indicator output each reads
    (``"close"`` for ``price``). The one table the validation, the watcher and the chart use."""
    schema = indicator_schema(indicator)
    names = {PRICE_NAME: "close", schema.name: schema.main_output}
    for out in schema.outputs:
        names.setdefault(out, out)
        names[f"{schema.name}.{out}"] = out
    return names


def parse_condition(text: str, indicator: str | None = None, *,
                    field: str = CONDITION_FIELD) -> Condition:
    """The compiled condition of a price trigger (``indicator`` None) or an indicator trigger;
    a positioned ``ConditionError`` on ``field`` when it cannot be evaluated."""
    if indicator is None:
        return conditions.parse(text, names=PRICE_NAMES, field=field)
    cond = conditions.parse(text, names=condition_names(indicator),
                            indicator_functions=INDICATOR_FUNCTIONS, field=field)
    if cond.indicator_refs:
        raise ConditionError(ONE_CALL_MESSAGE, field=field,
                             position=text.lower().find(cond.indicator_refs[0][0]))
    return cond


def normalize_indicator_call(config: dict[str, Any]) -> dict[str, Any]:
    """Accept the ``RSI(14) < 30`` form: indicator and params come from the call.

    ``{"condition": "RSI(14) < 30"}`` becomes ``{"indicator": "rsi", "params": {"period": 14},
    "condition": "rsi < 30"}``. A condition that does not parse is returned unchanged (its
    validation reports it with a position); several calls, or a call that disagrees with an
    explicit indicator, raise ``InvalidInputError(field="condition")``.
    """
    text = config.get("condition")
    if not isinstance(text, str) or "(" not in text:  # no call without a parenthesis
        return config
    try:
        parsed = conditions.parse(text, indicator_functions=INDICATOR_FUNCTIONS)
    except ConditionError:
        return config
    refs = parsed.indicator_refs
    if not refs:
        return config
    declared = config.get("indicator")
    declared = declared.strip().lower() if isinstance(declared, str) else declared
    if len(set(refs)) > 1 or (declared and declared not in {name for name, _ in refs}):
        raise InvalidInputError(ONE_CALL_MESSAGE, field="condition")
    name, args = refs[0]
    schema = indicator_schema(name)
    from_call = {p.name: arg for p, arg in zip(schema.params, args, strict=False)}
    given = config.get("params")
    params = {**(given if isinstance(given, dict) else {}), **from_call}
    out = dict(config, indicator=name, params=params)
    out["condition"] = re.sub(rf"\b{name}\s*\([^)]*\)", name, text, flags=re.IGNORECASE)
    return out


def _typed_error(typed: Any, indicator: Any) -> ConditionError | None:
    """The error the condition as typed (before the call form was normalised) has, if any:
    its position is where the user typed it."""
    if not isinstance(typed, str) or not isinstance(indicator, str):
        return None
    try:
        conditions.parse(typed, names=condition_names(indicator),
                         indicator_functions=INDICATOR_FUNCTIONS)
    except ConditionError as exc:
        return exc
    except InvalidInputError:  # unknown indicator: reported on its own field
        return None
    return None


def check_condition(trigger_type: str, condition: str, indicator: str = "rsi") -> None:
    """Raise the positioned ``ConditionError`` (positions in ``condition`` as typed) when a
    ``trigger_type`` trigger (on ``indicator``) cannot evaluate ``condition``; the live check
    of the new-job dialog."""
    if trigger_type == "price":
        parse_condition(condition)
        return
    config = normalize_indicator_call({"condition": condition, "indicator": indicator})
    try:
        parse_condition(config["condition"], config["indicator"])
    except ConditionError as exc:
        if config["condition"] != condition:
            raise _typed_error(condition, config["indicator"]) or exc from None
        raise


class MarketBase(TriggerBase):
    """Fields of market-watching triggers: symbol, cooldown, expiry, max fires."""

    symbol: str
    cooldown_seconds: int = Field(0, ge=0, le=7 * 86400)
    expires_at: UtcDatetime | None = None
    max_fires: int | None = Field(None, ge=1)
    session: SessionLimit | None = None
    _condition: Condition | None = PrivateAttr(None)

    @field_validator("session")
    @classmethod
    def _check_session(cls, value: SessionLimit | None) -> SessionLimit | None:
        return check_session(value, anchors=False, needs_calendar=False)

    @property
    def compiled_condition(self) -> Condition:
        """The condition, parsed and compiled once during validation (again if the model was
        copied with another condition)."""
        if self._condition is None or self._condition.source != self.condition:
            self._condition = self._parse()
        return self._condition

    def _parse(self) -> Condition:
        """Parse the condition with the names this trigger's evaluation provides."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _check_condition(self) -> Any:
        """Parse the condition once; its error lands on ``condition`` with its position."""
        try:
            self._condition = self._parse()
        except ConditionError as exc:
            raise field_error(type(self).__name__, "condition", self.condition, exc) from None
        return self

    @field_validator("symbol", mode="before")
    @classmethod
    def _check_symbol(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        symbol = value.strip().upper()
        if not _SYMBOL_RE.fullmatch(symbol):
            raise ValueError("symbol must be 2-20 characters of A-Z, 0-9, '.', '_', '/', '-'")
        return symbol


class PriceTriggerConfig(MarketBase):
    """Fires when a price condition on ``symbol`` becomes true (edge-triggered)."""

    type: Literal["price"] = "price"
    condition: ConditionText
    rearm_band: float = Field(0.0, ge=0)
    fire_if_true_at_start: bool = False

    def _parse(self) -> Condition:
        return parse_condition(self.condition)

    def describe(self) -> str:
        """'When EURUSD price > 1.1'."""
        return f"When {self.symbol} {self.condition}"


class IndicatorTriggerConfig(MarketBase):
    """Fires when a condition on an indicator of ``symbol`` at ``timeframe`` becomes true."""

    type: Literal["indicator"] = "indicator"
    timeframe: TimeframeName
    indicator: IndicatorName
    params: dict[str, float] = Field(default_factory=dict, validate_default=True)
    condition: ConditionText
    evaluate_on: Literal["bar_close", "tick"] = "bar_close"

    @field_validator("indicator", mode="before")
    @classmethod
    def _lower_indicator(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        indicator = info.data.get("indicator")
        if indicator is None:
            return value
        try:
            return indicator_schema(indicator).resolve(value)
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None

    def _parse(self) -> Condition:
        return parse_condition(self.condition, self.indicator)

    @model_validator(mode="wrap")
    @classmethod
    def _call_form(cls, data: Any, handler: Any) -> Any:
        """Normalise ``RSI(14) < 30`` first; positions of errors refer to the typed text."""
        if not isinstance(data, dict):
            return handler(data)
        typed = data.get("condition")
        try:
            normalized = normalize_indicator_call(data)
        except InvalidInputError as exc:
            raise field_error(cls.__name__, "condition", typed, exc) from None
        if normalized is data:
            return handler(data)
        try:
            return handler(normalized)
        except ValidationError as err:
            if not any(e["loc"][:1] == ("condition",) for e in err.errors()):
                raise
            typed_error = _typed_error(typed, normalized.get("indicator"))
            if typed_error is None:
                raise
            raise field_error(cls.__name__, "condition", typed, typed_error) from None

    @property
    def label(self) -> str:
        """'RSI(14)', 'MACD(12, 26, 9)', 'BBANDS(20, 2, 2)'."""
        values = ", ".join(f"{v:g}" for v in self.params.values())
        return f"{self.indicator.upper()}({values})"

    def describe(self) -> str:
        """'When RSI(14) on EURUSD 1h < 30, on bar close'."""
        label = f"{self.label} on {self.symbol} {self.timeframe}"
        when = "on bar close" if self.evaluate_on == "bar_close" else "on every tick"
        name = re.match(rf"\s*{self.indicator}\b(?!\s*[(.])", self.condition, re.IGNORECASE)
        if name:
            return f"When {label}{self.condition[name.end() :]}, {when}"
        return f"When {label}: {self.condition}, {when}"
