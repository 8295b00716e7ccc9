"""RQ worker entry point: ``python -m agentic_app worker [--processes N]``.

One process runs one RQ worker listening on the agentic queues in priority
order, with RQ's JSON serializer. ``--processes N`` runs N of them under the
supervisor, which restarts any that die.
"""

from __future__ import annotations

import logging
import socket

from rq import Worker
from rq.serializers import JSONSerializer

from agentic_app.engine.queues import QUEUE_NAMES
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.supervisor import ChildSpec, Supervisor, python_module_argv

log = logging.getLogger(__name__)


def run_worker(redis_url: str, *, burst: bool = False, name: str | None = None) -> bool:
    """Run one RQ worker in this process until stopped (or, with burst, until queues are empty)."""
    conn = connect(redis_url)
    worker = Worker(list(QUEUE_NAMES), connection=conn, serializer=JSONSerializer,
                    name=name or f"agentic-{socket.gethostname()}-{__import__('os').getpid()}")
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


def run_pool(redis_url: str, processes: int) -> None:
    """Run ``processes`` supervised worker processes until SIGTERM/SIGINT."""
    children = [
        ChildSpec(name=f"worker-{i}", argv=python_module_argv("agentic_app", "worker"),
                  env={"REDIS_URL": redis_url})
        for i in range(processes)
    ]
    Supervisor(children).run()
