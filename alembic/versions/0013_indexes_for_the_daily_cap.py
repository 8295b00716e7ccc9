"""indexes for the daily cap's count, and none that a composite already covers

* ``workflow_executions (user_id, created_at)`` and ``manual_retries (user_id, created_at)``
  replace the ``user_id``-only indexes. The daily cap counts a user's executions and manual
  retries created since 00:00 UTC inside every enqueue, under the enqueue lock; with
  ``user_id`` and ``created_at`` indexed apart PostgreSQL read every user's rows of the day
  (or every row the user ever made) to count one user's, so each enqueue got slower as the
  day went on, for every user. Now it reads that user's rows of the day, at most the cap.
  Lookups by ``user_id`` alone use the new index (it leads with ``user_id``).
* Dropped, each covered by a composite index that leads with the same column or unused:
  ``execution_events.execution_id`` (``uq_execution_events_exec_seq``),
  ``job_queue.user_id`` (``ix_job_queue_user_status``) and ``job_queue.priority`` (no query
  filters or sorts by priority alone; dispatch order is ``ix_job_queue_waiting``). Every
  status change of a job rewrites all of its row's index entries, so each index less is
  work less per claim and finish.

On PostgreSQL the indexes are built and dropped CONCURRENTLY (outside the migration's
transaction): a plain CREATE INDEX holds off every insert into the table while it builds,
and these are the tables each enqueue writes, so an upgrade run while the old version still
serves (docs/DEPLOY.md) would stall the queue for as long as the build takes. Outside a
transaction an interrupted run leaves part of its work done, so each step may be run again:
an index is created if it does not exist (an INVALID one, what an interrupted concurrent
build leaves, is dropped first) and dropped if it exists.

Revision ID: indexes_for_the_daily_cap
Revises: job_queue_lookup_indexes
Create Date: 2026-12-03
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'indexes_for_the_daily_cap'
down_revision: Union[str, None] = 'job_queue_lookup_indexes'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


_ADDED = (('ix_workflow_executions_user_created', 'workflow_executions', ['user_id', 'created_at']),
          ('ix_manual_retries_user_created', 'manual_retries', ['user_id', 'created_at']))
_DROPPED = (('ix_workflow_executions_user_id', 'workflow_executions', ['user_id']),
            ('ix_manual_retries_user_id', 'manual_retries', ['user_id']),
            ('ix_execution_events_execution_id', 'execution_events', ['execution_id']),
            ('ix_job_queue_user_id', 'job_queue', ['user_id']),
            ('ix_job_queue_priority', 'job_queue', ['priority']))


def _invalid(names: list[str]) -> list[str]:
    """Which of the indexes ``names`` PostgreSQL holds as INVALID (a concurrent build that
    did not finish); none on other databases or when only writing SQL (``--sql``)."""
    if op.get_context().as_sql:
        return []
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return []
    return list(bind.execute(sa.text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE NOT i.indisvalid AND c.relname = ANY(:names)"), {"names": names}).scalars())


def _swap(create: tuple, drop: tuple) -> None:
    """Create the ``create`` indexes, then drop the ``drop`` ones (name, table, columns);
    CONCURRENTLY and outside the transaction on PostgreSQL, each step safe to repeat (see
    the module docstring)."""
    tables = {name: table for name, table, _ in create}
    with op.get_context().autocommit_block():
        for name in _invalid(list(tables)):
            op.drop_index(name, table_name=tables[name], postgresql_concurrently=True)
        for name, table, columns in create:
            op.create_index(name, table, columns, postgresql_concurrently=True,
                            if_not_exists=True)
        for name, table, _ in drop:
            op.drop_index(name, table_name=table, postgresql_concurrently=True,
                          if_exists=True)


def upgrade() -> None:
    _swap(_ADDED, _DROPPED)


def downgrade() -> None:
    _swap(_DROPPED, _ADDED)
