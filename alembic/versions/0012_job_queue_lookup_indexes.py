"""job_queue lookup indexes that stay cheap whatever plan is picked

* ``ix_job_queue_status`` (status) becomes ``ix_job_queue_status_id`` (status, id): the
  claim and the finish (``id = ? AND status = ?``) are one probe of either index. With
  statistics taken before a burst of pending jobs, PostgreSQL picked the status index for
  them and scanned every pending row, per claim.
* ``ix_job_queue_waiting`` (user_id, priority DESC, id) over the jobs waiting for a slot
  (pending, no RQ job): the next waiting job and "has the user a waiting job" are one probe
  instead of a scan of the user's pending jobs.

Revision ID: job_queue_lookup_indexes
Revises: channel_urls_encrypted
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'job_queue_lookup_indexes'
down_revision: Union[str, None] = 'channel_urls_encrypted'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_WAITING = "status = 'pending' AND rq_job_id IS NULL"


def upgrade() -> None:
    op.drop_index('ix_job_queue_status', table_name='job_queue')
    op.create_index('ix_job_queue_status_id', 'job_queue', ['status', 'id'])
    op.create_index('ix_job_queue_waiting', 'job_queue',
                    ['user_id', sa.text('priority DESC'), 'id'],
                    postgresql_where=sa.text(_WAITING), sqlite_where=sa.text(_WAITING))


def downgrade() -> None:
    op.drop_index('ix_job_queue_waiting', table_name='job_queue')
    op.drop_index('ix_job_queue_status_id', table_name='job_queue')
    op.create_index('ix_job_queue_status', 'job_queue', ['status'])
