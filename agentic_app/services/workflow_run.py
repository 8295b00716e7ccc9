"""Run one workflow in-process (no Redis): the ``python -m agentic_app run`` command.

By default the run uses a throw-away SQLite database, so the paper account starts fresh
and the same ``--at`` time always gives the same result. The market is the realistic
simulated feed at market time ``--at`` (the local app's demo market and clock are not used).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import SQLModel, select

import agentic_app.db.trading_models  # noqa: F401  (tables for create_all)
from agentic_app.db.engine import Database
from agentic_app.db.models import User, Workflow, WorkflowExecution
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.events import Event
from agentic_app.domain.templates import get_template
from agentic_app.domain.workflow import validate_workflow
from agentic_app.engine.events.db_sink import DatabaseEventSink
from agentic_app.engine.events.sink import CompositeSink, MemorySink
from agentic_app.engine.executor.node_services import build_market, build_node_services
from agentic_app.engine.executor.runner import ExecutionResult, execute_sync
from agentic_app.market.clock import FixedClock
from agentic_app.nodes.library import registry
from agentic_app.services.base import Service

CLI_USER = "cli"


def load_definition(name_or_file: str) -> tuple[str, dict]:
    """(name, definition) of a template name or a JSON file (definition or {name, definition})."""
    path = Path(name_or_file)
    if path.suffix == ".json" or path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"cannot read workflow file: {exc}", field="workflow") from None
        definition = data.get("definition", data)
        return data.get("name", path.stem), definition
    try:
        template = get_template(name_or_file)
    except KeyError:
        raise InvalidInputError(f"no template or file called {name_or_file!r}",
                                field="workflow") from None
    return template["name"], template["definition"]


def parse_at(text: str | None) -> datetime:
    """An aware UTC datetime from ISO text (naive means UTC); now when None."""
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"--at is not an ISO-8601 time: {text!r}", field="at") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class RunService(Service):
    """One-off in-process runs (the CLI's ``run``)."""

    def run_once(self, name_or_file: str, *, at: str | None = None,
                 database_url: str | None = None,
                 on_event: Callable[[Event], None] | None = None) -> ExecutionResult:
        """Validate and run a workflow once at time ``at``; events go to ``on_event`` live.
        The run is stored in ``database_url`` when given, else in a throw-away SQLite."""
        settings = self.settings
        name, definition = load_definition(name_or_file)
        spec = validate_workflow(definition, registry)
        now = parse_at(at)
        tmp = None
        if database_url is None:
            tmp = tempfile.TemporaryDirectory(prefix="agentic-run-")
            database_url = f"sqlite:///{Path(tmp.name) / 'run.db'}"
        db = Database(database_url)
        if tmp is not None:
            SQLModel.metadata.create_all(db.engine)
        try:
            with db.session() as session:
                user = session.exec(select(User).where(User.username == CLI_USER)).first()
                if user is None:
                    user = User(username=CLI_USER, password_hash="!")
                    session.add(user)
                    session.flush()
                wf = Workflow(user_id=user.id, name=name, definition=spec.to_dict())
                session.add(wf)
                session.flush()
                ex = WorkflowExecution(workflow_id=wf.id, user_id=user.id, status="running",
                                       trigger_type="manual", started_at=now,
                                       trigger_payload={"source": "cli"},
                                       definition=wf.definition, workflow_version=wf.version)
                session.add(ex)
                session.flush()
                ids = (user.id, wf.id, ex.id)
            clock = FixedClock(now)
            kind = "simulated" if settings.market_feed == "demo" else None  # --at: market time
            market = build_market(settings, clock=clock, speed=1.0, kind=kind)
            services = build_node_services(settings, db=db, clock=clock, market=market)
            db_sink = DatabaseEventSink(db)
            sink = CompositeSink(db_sink, MemorySink(on_event=on_event))
            result = execute_sync(spec, registry=registry, services=services, sink=sink,
                                  execution_id=ids[2], user_id=ids[0], workflow_id=ids[1],
                                  trigger_payload={"source": "cli"}, now=now,
                                  execution_timeout_s=settings.queue_config.job_timeout_seconds,
                                  memory_limit_mb=settings.limits.memory_limit_mb)
            db_sink.close()
            return result
        finally:
            if tmp is not None:
                db.engine.dispose()
                tmp.cleanup()


def format_event(event: Event) -> str:
    """One human-readable line for an event."""
    node = f" [{event.node_id}]" if event.node_id else ""
    text = f" {event.message}" if event.message else ""
    return f"{event.ts:%H:%M:%S.%f}"[:-3] + f" #{event.seq:<3} {event.type}{node}{text}"


def format_table(result: ExecutionResult) -> str:
    """A final table of nodes: id, status, duration and a short output."""
    rows = [f"{'node':<14} {'status':<10} {'ms':>8}  output"]
    for node_id, node in result.nodes.items():
        out = node.output or {}
        short = {k: v for k, v in out.items() if not isinstance(v, list | dict)}
        text = node.error or ", ".join(f"{k}={v}" for k, v in list(short.items())[:5])
        ms = f"{node.duration_ms:.1f}" if node.duration_ms is not None else "-"
        rows.append(f"{node_id:<14} {node.status:<10} {ms:>8}  {text[:90]}")
    rows.append(f"execution: {result.status}" + (f" ({result.error})" if result.error else ""))
    return "\n".join(rows)
