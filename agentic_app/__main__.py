"""Command line: ``python -m agentic_app <command>`` (see ``--help``)."""

from __future__ import annotations

import argparse
import logging
import sys


def _app():
    """This process's facade (exit with the message when a setting is invalid)."""
    from agentic_app.services.app import AppServices
    from agentic_app.settings import SettingsError

    try:
        return AppServices.for_process()
    except SettingsError as exc:
        sys.exit(str(exc))


def cmd_migrate(args) -> int:
    """Apply database migrations up to head."""
    app = _app()
    app.migrate()
    print(f"database at head: {app.db!r}")
    return 0


def cmd_seed_demo(args) -> int:
    """Create the demo user and template workflows."""
    app = _app()
    app.migrate()
    try:
        user, created = app.demo.seed(fill_missing=True)
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"demo user {user.username!r} (id {user.id}); {len(created)} workflows created")
    return 0


def cmd_create_user(args) -> int:
    """Create a user with a password."""
    from agentic_app.domain.errors import InvalidInputError

    app = _app()
    app.migrate()
    try:
        user = app.users.create(username=args.name, password=args.password,
                                is_admin=args.admin)
    except InvalidInputError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    print(f"created user {user.username!r} (id {user.id})")
    return 0


def cmd_rotate_credentials(args) -> int:
    """Re-encrypt every stored exchange credential and notification channel URL with the first
    BROKER__CREDENTIAL_KEYS key."""
    app = _app()
    app.migrate()
    print(f"{app.broker.rotate_credentials()} credential(s) re-encrypted with the first key")
    print(f"{app.alerts.channels.rotate_urls()} channel URL(s) re-encrypted with the first key")
    return 0


def cmd_worker(args) -> int:
    """Run RQ workers (one in-process, or a pool of --processes N)."""
    from agentic_app.engine.runtime import clients
    from agentic_app.engine.runtime.worker import start_workers

    app = _app()
    # executions use the facade's market, broker and notifier (built before any fork)
    clients.configure(services_factory=lambda _settings, _db: app.node_services)
    start_workers(app.ensure_redis(), app.settings, processes=args.processes,
                  worker_class=args.worker_class, pool=args.pool, burst=args.burst,
                  slots=args.slots or app.settings.worker_slots)
    return 0


def cmd_scheduler(args) -> int:
    """Run a scheduler process (one is active cluster-wide through a Redis lease)."""
    from agentic_app.engine.scheduler.service import run_scheduler

    app = _app()
    run_scheduler(app.settings, app.ensure_redis())
    return 0


def cmd_supervise(args) -> int:
    """Run workers and (optionally) the scheduler under one supervisor."""
    from agentic_app.engine.runtime.supervisor import ChildSpec, Supervisor, python_module_argv

    url = _app().ensure_redis()
    children = [ChildSpec(f"worker-{i}", python_module_argv("agentic_app", "worker"),
                          {"REDIS_URL": url}) for i in range(args.workers)]
    if args.scheduler:
        children.append(ChildSpec("scheduler", python_module_argv("agentic_app", "scheduler"),
                                  {"REDIS_URL": url}))
    Supervisor(children).run()
    return 0


def cmd_run(args) -> int:
    """Run one workflow (template name or JSON file) in-process and print its events."""
    import json

    from agentic_app.domain.errors import InvalidInputError
    from agentic_app.services.workflow_run import format_event, format_table

    try:
        result = _app().runs.run_once(args.workflow, at=args.at,
                                      database_url=args.database_url,
                                      on_event=lambda e: print(format_event(e), flush=True))
    except InvalidInputError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        print(format_table(result))
    return 0 if result.status == "completed" else 1


def cmd_redis(args) -> int:
    """Print the Redis URL in use, starting a private Redis when none answers (local mode)."""
    print(_app().ensure_redis(allow_start=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m agentic_app",
                                     description="agentic_app command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help=cmd_migrate.__doc__).set_defaults(func=cmd_migrate)
    sub.add_parser("seed-demo", help=cmd_seed_demo.__doc__).set_defaults(func=cmd_seed_demo)
    p = sub.add_parser("create-user", help=cmd_create_user.__doc__)
    p.add_argument("name")
    p.add_argument("--password", required=True)
    p.add_argument("--admin", action="store_true", help="may open rq-dashboard (all users' jobs)")
    p.set_defaults(func=cmd_create_user)
    sub.add_parser("rotate-credentials", help=cmd_rotate_credentials.__doc__).set_defaults(
        func=cmd_rotate_credentials)
    p = sub.add_parser("worker", help=cmd_worker.__doc__)
    from agentic_app.engine.runtime.worker import add_worker_arguments

    add_worker_arguments(p)
    p.set_defaults(func=cmd_worker)
    sub.add_parser("scheduler", help=cmd_scheduler.__doc__).set_defaults(func=cmd_scheduler)
    p = sub.add_parser("supervise", help=cmd_supervise.__doc__)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler", action="store_true")
    p.set_defaults(func=cmd_supervise)
    p = sub.add_parser("run", help=cmd_run.__doc__)
    p.add_argument("workflow", help="template name (e.g. 'RSI Oversold Strategy') or .json file")
    p.add_argument("--json", action="store_true", help="last line: the execution as JSON")
    p.add_argument("--at", help="execution time, ISO-8601 (default: now)")
    p.add_argument("--database-url", help="persist into this database (default: a temp SQLite)")
    p.set_defaults(func=cmd_run)
    sub.add_parser("redis", help=cmd_redis.__doc__).set_defaults(func=cmd_redis)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
