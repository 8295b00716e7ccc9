"""alert-only mode: flags on workflows, schedules and executions; the alert_orders table

Revision ID: alert_only_mode
Revises: alert_channels_deliveries
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'alert_only_mode'
down_revision: Union[str, None] = 'alert_channels_deliveries'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FLAGGED = ('workflows', 'scheduled_jobs', 'workflow_executions')


def upgrade() -> None:
    # plain ALTER TABLE (SQLite >= 3.35 drops columns natively): a batch copy of workflows
    # would fail its foreign keys while schedules and executions point at it
    for table in FLAGGED:
        op.add_column(table, sa.Column('alert_only', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))

    op.create_table('alert_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=True),
    sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('order_type', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('limit_price', sa.Float(), nullable=True),
    sa.Column('quote_price', sa.Float(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('alert_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_orders_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_orders_execution_id'), ['execution_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_alert_orders_created_at'), ['created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_orders_created_at'))
        batch_op.drop_index(batch_op.f('ix_alert_orders_execution_id'))
        batch_op.drop_index(batch_op.f('ix_alert_orders_user_id'))
    op.drop_table('alert_orders')
    for table in reversed(FLAGGED):
        op.drop_column(table, 'alert_only')
