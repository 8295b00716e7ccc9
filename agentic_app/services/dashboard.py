"""Designing a trigger (the scheduler dialog and its REST twins): feed symbols, positioned
condition checks, the would-have-fired chart over the feed's history, scheduling a workflow
(its definition untouched), writing a workflow's trigger node (an explicit workflow edit), and
webhook set-up examples.

Reached as ``app.triggers``; methods on user rows take the acting user and check ownership
through the workflow and schedule services.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from agentic_app.db.models import ScheduledJob, Workflow
from agentic_app.domain import triggers
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.templates import get_template
from agentic_app.domain.tradingview import alert_message
from agentic_app.domain.triggers import canonical_type
from agentic_app.engine.scheduler import backtest as replay
from agentic_app.market import indicators
from agentic_app.market.clock import to_utc
from agentic_app.services.backtest_slots import backtest_slot
from agentic_app.services.base import Actor, Service
from agentic_app.services.offload import call_cpu
from agentic_app.services.schedules import NODE_FOR_TRIGGER, node_defaults, trigger_node
from agentic_app.settings import Settings

CHART_DAYS = 3
"""Days of feed history the condition preview chart covers."""
BACKTEST_DAYS = 30
"""Default window of a trigger backtest, in days."""
MAX_BACKTEST_DAYS = replay.MAX_DAYS
"""Longest backtest window, in days."""
EARLIEST_END = datetime(2000, 1, 1, tzinfo=UTC)
"""Earliest end of a backtest window (feeds have no older history)."""
WEBHOOK_PATH = "/api/agentic/webhooks/"
"""Path prefix of inbound webhooks (followed by the job's URL token)."""


def check_condition(trigger_type: str, condition: str, indicator: str = "rsi") -> None:
    """Raise a positioned ConditionError when ``condition`` is invalid for the trigger."""
    triggers.check_condition(trigger_type, condition, indicator)


def webhook_url(settings: Settings, token: str) -> str:
    """Public URL of a webhook job."""
    return f"{settings.api_base_url.rstrip('/')}{WEBHOOK_PATH}{token}"


def webhook_examples(url: str, secret: str, mode: str) -> dict[str, str]:
    """Copyable examples: a signed curl call and a TradingView alert set-up."""
    body = '{"symbol":"EURUSD","action":"buy","price":{{close}}}'
    curl_body = '{"symbol":"EURUSD","action":"buy","price":1.1}'
    if mode == "shared_secret":
        curl = (f"curl -X POST '{url}' -H 'Content-Type: application/json' \\\n"
                f"  -H 'X-Agentic-Secret: {secret}' -d '{curl_body}'")
    else:
        curl = (f"SECRET='{secret}'\nBODY='{curl_body}'\nT=$(date +%s)\n"
                "SIG=$(printf '%s.%s' \"$T\" \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" "
                "| sed 's/^.* //')\n"
                f"curl -X POST '{url}' -H 'Content-Type: application/json' \\\n"
                "  -H \"X-Agentic-Signature: t=$T,v1=$SIG\" \\\n"
                "  -H \"X-Agentic-Delivery: $(cat /proc/sys/kernel/random/uuid)\" "
                "-d \"$BODY\"")
    if mode == "tradingview":
        secret_url = f"{url}/{secret}"
        message = alert_message()
        curl = (f"curl -X POST '{secret_url}' -H 'Content-Type: text/plain' \\\n"
                f"  -d 'buy EURUSD at 1.1'")
        tradingview = (f"Webhook URL (secret: keep it private):\n{secret_url}\n\n"
                       f"Message (paste as is; TradingView fills the placeholders):\n{message}")
        return {"curl": curl, "tradingview": tradingview, "secret_url": secret_url,
                "message": message}
    tradingview = (f"Webhook URL: {url}?secret={secret}\nMessage: {body}\n"
                   "(TradingView cannot sign requests: create the job in tradingview mode.)")
    return {"curl": curl, "tradingview": tradingview}


INDICATOR_NAMES = tuple(sorted(indicators.INDICATORS))
"""Indicators an indicator trigger may watch."""
TYPE_FOR_NODE = {node: kind for kind, node in NODE_FOR_TRIGGER.items()}
"""Trigger node type -> the trigger type it declares."""


def with_trigger(definition: dict, trigger_type: str, params: dict[str, Any]) -> dict:
    """A copy of ``definition`` whose trigger node is the ``trigger_type`` node with ``params``
    (the trigger node keeps its id and edges; one is added in front when there is none)."""
    new = copy.deepcopy(definition)
    node_type = NODE_FOR_TRIGGER[canonical_type(trigger_type)]
    node = trigger_node(new)
    if node is not None:
        node["type"], node["params"] = node_type, dict(params)
        return new
    roots = [n["id"] for n in new.get("nodes", [])
             if not any(e.get("to") == n["id"] for e in new.get("edges", []))]
    new.setdefault("nodes", []).insert(0, {"id": "trigger", "type": node_type,
                                           "params": dict(params)})
    new.setdefault("edges", []).extend({"from": "trigger", "to": r} for r in roots)
    return new


def trigger_of(definition: dict) -> tuple[str | None, dict[str, Any]]:
    """(trigger type, params) of the workflow's trigger node; (None, {}) when it has none."""
    node = trigger_node(definition)
    if node is None:
        return None, {}
    return TYPE_FOR_NODE.get(node["type"]), dict(node.get("params") or {})


class TriggerDesigner(Service):
    """What the new-job dialog does, for every front end."""

    def symbols(self) -> list[str]:
        """Symbols of the configured feed, sorted."""
        return list(self._app.market.symbols())

    def check_condition(self, trigger_type: str, condition: str,
                        indicator: str = "rsi") -> None:
        """Raise a positioned ConditionError when ``condition`` is invalid for the trigger."""
        check_condition(canonical_type(trigger_type), condition, indicator)

    def chart(self, *, trigger_type: str, config: dict[str, Any],
              days: int = CHART_DAYS) -> dict[str, Any]:
        """Where a price or indicator trigger would have fired over the feed's last ``days``
        (the backtest, :meth:`backtest`): {points: [{t, close, value, fire}], fires,
        indicator, timeframe}. InvalidInputError naming the field (positioned for
        conditions) when the config is not usable."""
        kind, cfg = self._market_config(trigger_type, config)
        result = self._run(cfg, days, None, (kind, config))
        return {"points": result["chart"], "fires": result["count"],
                "indicator": getattr(cfg, "indicator", ""),
                "timeframe": getattr(cfg, "timeframe", "1m")}

    def backtest(self, actor: Actor, *, trigger_type: str | None = None,
                 config: dict[str, Any] | None = None, job_id: int | None = None,
                 days: float = BACKTEST_DAYS, end: datetime | None = None) -> dict[str, Any]:
        """Every would-be fire of a price or indicator trigger over ``days`` (at most 90)
        ending at ``end`` (default now), replayed by the live watcher's own evaluation
        (``engine.scheduler.backtest``): fires with time, price and indicator values, their
        count, and a chart of the window. The trigger is ``trigger_type`` + ``config``, or the
        saved trigger of the actor's job ``job_id`` (another user's job: NotFoundError).
        Bad input: InvalidInputError naming ``days``, ``end`` or the config field; more than
        ``MAX_BACKTESTS_PER_USER`` at once: LimitExceededError (``backtests_per_user``)."""
        if not isinstance(days, int | float) or isinstance(days, bool) or not (
                0 < days <= replay.MAX_DAYS):
            raise InvalidInputError(f"days must be more than 0 and at most {replay.MAX_DAYS}",
                                    field="days")
        if job_id is not None:
            job = self._app.schedules.get(actor, job_id)
            trigger_type, config = job.trigger_type, dict(job.trigger_config or {})
        if trigger_type is None or config is None:
            raise InvalidInputError("give a trigger (trigger_type and trigger_config) or a "
                                    "job_id", field="trigger_type")
        kind, cfg = self._market_config(trigger_type, config)
        with backtest_slot(self._app.redis_or_none(), actor.id):  # CPU: a few per user
            result = self._run(cfg, float(days), end, (kind, config))
        return {**result, "trigger_type": kind, "symbol": cfg.symbol,
                "description": cfg.describe(), "indicator": getattr(cfg, "indicator", ""),
                "timeframe": getattr(cfg, "timeframe", "1m")}

    def _market_config(self, trigger_type: str, config: dict[str, Any]) -> tuple[str, Any]:
        """(kind, typed config) of a price or indicator trigger, checked as a schedule's
        would be (InvalidInputError naming the field, positioned for conditions)."""
        kind = canonical_type(trigger_type)
        if kind not in ("price", "indicator"):
            raise InvalidInputError("only price and indicator triggers can be backtested",
                                    field="trigger_type")
        self.check_condition(kind, str(config.get("condition") or ""),
                             str(config.get("indicator") or "rsi"))
        self._app.schedules.preview(trigger_type=kind, trigger_config=config)
        try:
            self._app.market.instrument(str(config.get("symbol") or ""))
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message, field="trigger_config.symbol") from None
        return kind, triggers.parse_trigger_config(kind, config)

    def _run(self, cfg: Any, days: float, end: datetime | None,
             raw: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        """Run the backtest on the configured feed (in market time for a demo market that
        runs faster than the clock); ``end`` is capped at now and floored to the minute."""
        feed = self._app.market
        inner, to_market = getattr(feed, "inner", None), getattr(feed, "to_market", None)
        now = datetime.now(UTC)
        if end is not None:
            if end.tzinfo is None or end.utcoffset() is None:
                raise InvalidInputError("end must be timezone-aware", field="end")
            if end < EARLIEST_END:
                raise InvalidInputError(f"end must be after {EARLIEST_END.date()}",
                                        field="end")
            now = min(now, to_utc(end))
        if inner is not None and to_market is not None:
            feed, now = inner, to_market(now)
        now = now.replace(second=0, microsecond=0)
        start = now - timedelta(days=days)
        bars = replay.read_history(feed, cfg, start=start, end=now)  # I/O, in this thread
        # the replay is CPU work: in a worker process, so it never holds this process's GIL
        return call_cpu(replay.replay_to_dict, bars, *raw, start, now)

    def template_trigger(self, template: str) -> tuple[str | None, dict[str, Any]]:
        """(trigger type, params) of a template's trigger node."""
        return trigger_of(_template(template)["definition"])

    def workflow_trigger(self, actor: Actor, workflow_id: int) -> tuple[str | None,
                                                                         dict[str, Any]]:
        """(trigger type, params) of one of the user's workflows."""
        return trigger_of(self._app.workflows.get(actor, workflow_id).definition)

    def set_trigger(self, actor: Actor, workflow_id: int, *, trigger_type: str,
                    params: dict[str, Any]) -> Workflow:
        """Make ``params`` the workflow's ``trigger_type`` trigger node (an edit of the
        workflow: its schedules stay as they are), checked the way a schedule of it would be;
        a changed definition bumps the workflow's version."""
        wf = self._app.workflows.get(actor, workflow_id)
        definition = with_trigger(wf.definition, trigger_type, params)
        if definition == wf.definition:
            return wf
        self._app.schedules.resolve(trigger_type=trigger_type, trigger_config=params)
        return self._app.workflows.update(actor, workflow_id, definition=definition)

    def from_template(self, actor: Actor, template: str, *, name: str = "",
                      trigger_type: str | None = None,
                      params: dict[str, Any] | None = None) -> Workflow:
        """A new workflow from a template (unique name), with its trigger node replaced by
        ``trigger_type`` + ``params`` when given (checked like :meth:`set_trigger`)."""
        definition = _template(template)["definition"]
        if trigger_type is not None:
            definition = with_trigger(definition, trigger_type, params or {})
            self._app.schedules.resolve(trigger_type=trigger_type, trigger_config=params or {})
        return self._app.workflows.create_from_template(actor, template, name=name,
                                                        definition=definition)

    def schedule(self, actor: Actor, *, trigger_type: str, form: dict[str, Any],
                 workflow_id: int | None = None, template: str | None = None,
                 name: str = "") -> ScheduledJob:
        """The dialog's "create": a schedule of ``trigger_type`` with the ``form``'s config
        for one of the user's workflows, or for a new workflow from ``template``. The
        workflow's definition is never changed; everything is checked before anything is
        written."""
        _check_form(trigger_type, form)
        if template is not None:
            definition = _template(template)["definition"]
            self._app.schedules.resolve(trigger_type=trigger_type, trigger_config=form,
                                        defaults=node_defaults(definition, trigger_type))
            wf = self._app.workflows.create_from_template(actor, template, name=name)
        elif workflow_id is not None:
            wf = self._app.workflows.get(actor, workflow_id)
        else:
            raise InvalidInputError("give a workflow or a template", field="workflow_id")
        return self._app.schedules.create(actor, workflow_id=wf.id, trigger_type=trigger_type,
                                          trigger_config=form, name=name.strip())

    def reschedule(self, actor: Actor, job_id: int, *, form: dict[str, Any],
                   name: str | None = None, trigger_type: str | None = None) -> ScheduledJob:
        """The dialog's "save": the job's trigger type (when given), config and name, as
        :meth:`ScheduleService.update` (the workflow is not changed)."""
        job = self._app.schedules.get(actor, job_id)
        _check_form(trigger_type or job.trigger_type, form)
        return self._app.schedules.update(actor, job.id, trigger_type=trigger_type,
                                          trigger_config=form,
                                          name=name.strip() if name is not None else None)

    def webhook_path(self, job: ScheduledJob) -> str:
        """Path of a webhook job's URL (under the API's base URL)."""
        return f"{WEBHOOK_PATH}{job.webhook_token}"

    def webhook(self, job: ScheduledJob, *, secret: str | None = None) -> dict[str, str]:
        """URL, mode, secret and copyable examples of a webhook job; {} for other jobs.

        The secret is shown only when passed in (just created or rotated), masked otherwise:
        a stored secret is never shown again. A TradingView job's URL holds its secret
        (``/webhooks/<token>/<secret>``) and is masked the same way; ``message`` is the alert
        message to paste."""
        if job.trigger_type != "webhook":
            return {}
        url = webhook_url(self.settings, job.webhook_token or "")
        mode = str(job.trigger_config.get("mode", "hmac"))
        masked = "••••••••"
        placeholder = masked if mode == "tradingview" else "<your secret>"
        examples = webhook_examples(url, secret or placeholder, mode)
        if mode == "tradingview":  # the URL itself holds the secret: shown once, like it
            url = examples["secret_url"]
        return {"url": url, "mode": mode, "secret": secret or masked, **examples}


def _template(name: str) -> dict[str, Any]:
    try:
        return get_template(name)
    except KeyError:
        raise InvalidInputError(f"no template called {name!r}", field="template") from None


def _check_form(trigger_type: str, form: dict[str, Any]) -> None:
    """Check a dialog form's price / indicator condition first, so its error carries its
    position (the rest is checked by the schedule service)."""
    kind = canonical_type(trigger_type)
    if kind in ("price", "indicator"):
        check_condition(kind, str(form.get("condition") or ""),
                        str(form.get("indicator") or "rsi"))
