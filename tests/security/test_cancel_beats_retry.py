"""Cancel wins over a pending automatic retry, with a real RQ worker: a node that ignores the
cancel request fails retryably while ``POST /queue/jobs/{id}/cancel`` waits out its grace
period; the job ends cancelled and no further attempt runs, even with no retry backoff."""

from __future__ import annotations

import json
import time

from agentic_app.engine.queue.keys import DUE_KEY
from tests.api.conftest import API, ApiEnv
from tests.integration.queue.conftest import QueueEnv, wait_for


def test_retryable_failure_during_cancel_grace_leaves_no_retry(sqlite_db_url, redis_url,
                                                                tmp_path):
    """Retry delay 0 (the tightest race): one attempt starts, the cancel answers cancelled,
    and three seconds later there is still one start, no due retry and no queued RQ job."""
    # registers t.record here too; imported in the test, not at collection, so the test
    # node types do not join the default registry before other test modules run
    import tests.integration.queue.worker_entry  # noqa: F401

    queue = {"max_retries": 3, "retry_delay_seconds": [0]}
    workers = QueueEnv(sqlite_db_url, redis_url, tmp_path)
    workers.configure(queue_config=queue)
    env = ApiEnv(sqlite_db_url, redis_url, queue_config=queue)
    try:
        _, alice = env.user("alice")
        definition = {"nodes": [{"id": "rec", "type": "t.record", "params": {
            "key": "race", "sleep_s": 1.5, "ignore_cancel": True, "fail": "retryable"}}]}
        wf = env.workflow(alice, definition=definition)
        workers.start_workers(1)
        job = env.run(alice, wf)

        def starts() -> list[dict]:
            return [json.loads(x) for x in workers.redis.lrange("race:starts", 0, -1)]

        wait_for(lambda: starts(), 30, message="the first attempt to start")
        cancelled = env.client.post(f"{API}/queue/jobs/{job['id']}/cancel", headers=alice)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        time.sleep(3)
        assert [s["attempt"] for s in starts()] == [1]
        final = env.client.get(f"{API}/queue/jobs/{job['id']}", headers=alice).json()
        assert final["status"] == "cancelled"
        assert workers.redis.zcard(DUE_KEY) == 0
    finally:
        workers.kill_all()
