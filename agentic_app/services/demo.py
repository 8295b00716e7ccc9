"""Demo data (local mode only): user ``demo`` (never an admin), the three template workflows,
and their schedules.

The demo copies of the templates use demo-friendly triggers so a user sees all three fire
within a minute on the local demo market (MARKET_SPEED, 60x by default in local mode):

* RSI Oversold Strategy runs every minute (the template: daily at 09:00);
* EURUSD Price Alert watches ``price > L`` with ``L`` the EURUSD price at start-up, rounded
  (the template: 1.10) - refreshed at every start while the demo job keeps its demo level;
* RSI Signal Auto-trade watches RSI(14) < 30 on 1-minute bars, evaluated every check (the
  template: 15-minute bars, on bar close).
"""

from __future__ import annotations

import copy
import logging

from sqlmodel import select

from agentic_app.db.models import ScheduledJob, User, Workflow, utcnow
from agentic_app.domain.templates import TEMPLATES
from agentic_app.services.base import Actor, Service
from agentic_app.services.passwords import hash_password

log = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_MARK = " (demo)"
"""Suffix of the demo schedules' names; a renamed job is the user's and is left alone."""
TRIGGER_TYPES = {"schedule_trigger": "cron", "price_trigger": "price",
                 "indicator_trigger": "indicator"}


def _demo_definition(name: str, definition: dict, eurusd_level: float) -> dict:
    definition = copy.deepcopy(definition)
    trigger = definition["nodes"][0]
    if trigger["type"] == "schedule_trigger":
        trigger["params"]["cron_expression"] = "* * * * *"
    elif trigger["type"] == "price_trigger":
        trigger["params"]["condition"] = f"price > {eurusd_level:.4f}"
    elif trigger["type"] == "indicator_trigger":
        trigger["params"]["timeframe"] = "1m"
        trigger["params"]["evaluate_on"] = "tick"  # at 60x a 1m bar lasts one wall second
    return definition


class DemoService(Service):
    """The demo data of local mode."""

    def seed(self, *, fill_missing: bool = False) -> tuple[Actor, list[Workflow]]:
        """Create the demo user with its workflows and schedules on the first run.

        Later runs (every start of the local app) only re-arm the demo price alert: what the
        user deleted stays deleted. ``fill_missing`` (the ``seed-demo`` command) re-creates
        missing template workflows and, when the user has no schedule at all, the demo
        schedules. RuntimeError in production mode.
        """
        settings = self.settings
        if not settings.is_local:
            raise RuntimeError("seed-demo is refused in production mode")
        level = round(self._app.market.price("EURUSD").price, 4)
        with self.db.session() as session:
            user = session.exec(select(User).where(User.username == DEMO_USERNAME)).first()
            create = user is None or fill_missing
            if user is not None and user.is_admin:  # older data dirs seeded an admin demo
                log.warning("the demo user is no longer an admin")
                user.is_admin = False
            if user is None:
                user = User(username=DEMO_USERNAME, is_admin=False,
                            password_hash=hash_password(settings.demo_password))
                session.add(user)
                session.flush()
            owned = session.exec(select(Workflow).where(Workflow.user_id == user.id))
            existing = {w.name for w in owned}
            created = []
            for name, template in TEMPLATES.items():
                if name in existing or not create:
                    continue
                wf = Workflow(user_id=user.id, name=name, description=template["description"],
                              definition=_demo_definition(name, template["definition"], level))
                session.add(wf)
                created.append(wf)
            session.flush()
            for wf in created:
                session.refresh(wf)
            actor = Actor.of(user)
        self._seed_schedules(actor, level, create=create)
        return actor, created

    def _seed_schedules(self, actor: Actor, level: float, *, create: bool) -> None:
        with self.db.session() as s:
            workflows = {w.name: w for w in s.exec(select(Workflow).where(
                Workflow.user_id == actor.id))}
            jobs = {j.name: j for j in s.exec(select(ScheduledJob).where(
                ScheduledJob.user_id == actor.id))}
            seeded_before = bool(jobs)
        for name in TEMPLATES:
            wf = workflows.get(name)
            job_name = name + DEMO_MARK
            if wf is None:
                continue
            trigger = wf.definition["nodes"][0]
            job = jobs.get(job_name)
            if job is None and create and not seeded_before:
                self._app.schedules.create(actor, workflow_id=wf.id,
                                           trigger_type=TRIGGER_TYPES[trigger["type"]],
                                           name=job_name)
            elif (job is not None and job.trigger_type == "price" and job.workflow_id == wf.id
                  and trigger["type"] == "price_trigger"):
                try:
                    self._refresh_price_level(actor, wf, job, level)
                except Exception:  # the demo must never stop the app from starting
                    log.warning("could not re-arm the demo price alert", exc_info=True)

    def _refresh_price_level(self, actor: Actor, wf: Workflow, job: ScheduledJob,
                             level: float) -> None:
        """Move the demo price alert's level to the current price so it fires again soon."""
        condition = f"price > {level:.4f}"
        if job.trigger_config.get("condition") == condition:
            return
        definition = copy.deepcopy(wf.definition)
        definition["nodes"][0]["params"]["condition"] = condition
        with self.db.session() as s:
            row = s.get(Workflow, wf.id)
            row.definition = definition
            row.updated_at = utcnow()
        self._app.schedules.update(actor, job.id, trigger_config={"condition": condition})
        log.info("demo price alert re-armed at EURUSD %s", condition)
