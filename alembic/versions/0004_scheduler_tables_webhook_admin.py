"""scheduler tables webhook admin

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('missed_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scheduled_job_id', sa.Integer(), nullable=False),
    sa.Column('fire_time', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['scheduled_job_id'], ['scheduled_jobs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scheduled_job_id', 'fire_time', name='uq_missed_runs_job_fire')
    )
    with op.batch_alter_table('missed_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_missed_runs_scheduled_job_id'), ['scheduled_job_id'], unique=False)

    op.create_table('trigger_states',
    sa.Column('scheduled_job_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['scheduled_job_id'], ['scheduled_jobs.id'], ),
    sa.PrimaryKeyConstraint('scheduled_job_id')
    )
    with op.batch_alter_table('execution_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('webhook_secret', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.create_unique_constraint('uq_scheduled_jobs_webhook_token', ['webhook_token'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_admin')

    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_scheduled_jobs_webhook_token', type_='unique')
        batch_op.drop_column('webhook_secret')
        batch_op.drop_column('webhook_token')

    with op.batch_alter_table('execution_events', schema=None) as batch_op:
        batch_op.drop_column('attempt')

    op.drop_table('trigger_states')
    with op.batch_alter_table('missed_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_missed_runs_scheduled_job_id'))

    op.drop_table('missed_runs')
