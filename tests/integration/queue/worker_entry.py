"""Test worker entry: registers test node types, then runs agentic_app's worker CLI.

Run as ``python -m tests.integration.queue.worker_entry [worker args]``. The node types live
here, not in the product package.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Literal

from pydantic import Field

from agentic_app.domain.errors import FatalError, RetryableError
from agentic_app.engine.runtime import clients
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType
from agentic_app.nodes.library import registry
from agentic_app.settings import get_settings


def _redis():
    from agentic_app.engine.redis_conn import connect

    return connect(get_settings().redis_url)


@registry.register
class RecordNode(NodeType):
    """Test node: records its start in Redis, holds a running counter, sleeps or waits for a
    release key, may fail."""

    type_name = "t.record"
    timeout_default = 120

    class Params(NodeParams):
        """Where to record, how long to run, how to fail and on which attempts."""

        key: str = "t"
        sleep_s: float = Field(0.0, ge=0)
        fail: Literal["no", "retryable", "fatal"] = "no"
        fail_attempts: int = 99
        ignore_cancel: bool = False  # sleep through a cancel request (a stubborn node)
        hold_key: str = ""  # run until this Redis key exists (sleep_s is then the bound)

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        import redis

        r = _redis()
        try:  # instrumentation only: the Redis-restart test kills Redis around here
            r.rpush(f"{params.key}:starts", json.dumps(
                {"t": time.time(), "attempt": ctx.attempt, "execution_id": ctx.execution_id}))
            n = r.incr(f"{params.key}:running:{ctx.user_id}")
            r.rpush(f"{params.key}:concurrency:{ctx.user_id}", n)
        except redis.RedisError:
            pass
        try:
            if params.hold_key:  # a barrier: in flight until the test releases it
                deadline = time.monotonic() + params.sleep_s
                while not r.exists(params.hold_key) and time.monotonic() < deadline:
                    ctx.sleep(0.05)
            elif params.ignore_cancel:
                time.sleep(params.sleep_s)
            else:
                ctx.sleep(params.sleep_s)
        finally:
            try:  # the Redis-restart test kills Redis while this node sleeps
                r.decr(f"{params.key}:running:{ctx.user_id}")
            except redis.RedisError:
                pass
        if params.fail != "no" and ctx.attempt <= params.fail_attempts:
            cls = RetryableError if params.fail == "retryable" else FatalError
            raise cls(f"{params.fail} failure on attempt {ctx.attempt}")
        return {"attempt": ctx.attempt}


@registry.register
class AllocNode(NodeType):
    """Test node: allocates memory in 20 MB steps (touching every page), then releases it."""

    type_name = "t.alloc"
    timeout_default = 60

    class Params(NodeParams):
        """How many megabytes to hold."""

        megabytes: int = Field(ge=1, le=4096)

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        chunks = []
        for _ in range(params.megabytes // 20):
            chunks.append(bytearray(b"x" * (20 * 1024 * 1024)))
            ctx.check_cancelled()
        return {"held_mb": 20 * len(chunks)}


clients.configure(registry=registry)

if __name__ == "__main__":
    from agentic_app.engine.runtime.worker import main

    sys.exit(main(sys.argv[1:]))
