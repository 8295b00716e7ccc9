"""The job queue: job_queue rows in the database, RQ jobs in Redis, and every state change.

The database is the truth; Redis carries only what can be rebuilt from it
(:mod:`~agentic_app.engine.queue.maintenance` rebuilds it). Modules, lowest first (each
imports only those above it):

``names``        RQ queue names and the priority -> queue mapping
``keys``         Redis keys, ids and reservation tokens of the queue
``rows``         job_queue rows: the write transaction, reads of one job
``rq_jobs``      the RQ side: the job function, pushing, removing and stopping RQ jobs
``limits``       the write lock, the queue-size and daily caps, the per-user slot gate
``dispatch``     a waiting job gets a slot and its RQ job; slots freed or handed on
``enqueue``      new execution + job rows, dispatched at once when a slot is free
``retry``        automatic retry backoff, due retries moved to RQ, manual retry
``attempts``     claim (pending -> running), heartbeat, finish of one attempt
``cancel``       cancelling a pending or running job
``maintenance``  reconciliation after crashes and outages (worker thread)
``retention``    deleting old finished jobs and their history

* **Enqueue** is one database transaction holding the database's write lock (SQLite
  ``BEGIN IMMEDIATE``, PostgreSQL a transaction-level advisory lock), which makes the daily cap
  and the queue-size cap exact across processes: the checks, the ``workflow_executions`` and
  ``job_queue`` rows, and - when the user has a free slot - the row marked dispatched
  (``rq_job_id`` set), committed once. On PostgreSQL that transaction is one round trip:
  BEGIN, the lock, one statement (dedupe check, owner, kill switch and caps read, both
  inserts, only when every check passes) and COMMIT sent together in psycopg's pipeline mode;
  the statement runs after the lock is held, so its snapshot counts every row the previous
  holder committed. The slot is reserved just before the transaction (one EVALSHA) under a
  token ``r:<ms>:<random>`` (so a crash before the commit leaks nothing: the reconciler drops
  tokens older than ``RESERVATION_TTL_S``); after the commit one Redis transaction swaps the
  token for the job id and pushes the RQ job (a single round trip).
* **Dispatch** = take a per-user slot (an atomic Lua check on the Redis set
  ``agentic:q:slots:<user>``: at most ``max_concurrent_per_user`` members), mark the row
  dispatched (``rq_job_id`` set, conditional UPDATE) and push the RQ job
  ``agentic-<job id>-<attempt>`` onto the queue of its priority. Without a free slot the row
  stays pending with ``rq_job_id`` NULL ("waiting for a slot") and the flag
  ``agentic:q:waiting:<user>`` is set; when an attempt ends its slot is handed to the user's
  next waiting job (priority, then FIFO) in the same transaction that records the end (the
  holder count never changes), else freed - event driven.
* **Attempts**: ``claim_attempt`` (pending -> running) and ``finish_attempt`` are
  conditional on ``(attempt, status)``, so a stale RQ job, a duplicate RQ job or a zombie
  attempt can never overwrite a newer state.
* **Retries**: a retryable failure with retries left becomes pending again with
  ``attempt + 1``; it keeps its slot through the backoff (1 s, 5 s, 15 s) and waits in the
  Redis sorted set ``agentic:q:due`` until the worker maintenance thread moves it to RQ.
* **Cancel**: pending -> cancelled at once (RQ job removed, slot freed); running -> a cancel
  flag the task polls (cooperative: nodes are cancelled, ExecutionFinished written), and after
  ``grace_s`` RQ's stop-job command as a fallback.
"""
