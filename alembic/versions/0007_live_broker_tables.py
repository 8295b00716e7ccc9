"""live broker tables: exchange credentials, live orders, trading limits, kill switch

Revision ID: live_broker_tables
Revises: 0006
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'live_broker_tables'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('exchange_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('exchange', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('api_key_enc', sa.Text(), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('key_hint', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'exchange', name='uq_exchange_credentials_user_exchange')
    )
    op.create_table('live_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.Integer(), nullable=True),
    sa.Column('exchange', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('order_type', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('limit_price', sa.Float(), nullable=True),
    sa.Column('notional', sa.Float(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('client_order_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('exchange_order_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('execution_id', sa.Integer(), nullable=True),
    sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('filled_quantity', sa.Float(), nullable=False),
    sa.Column('avg_fill_price', sa.Float(), nullable=True),
    sa.Column('fee', sa.Float(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('claimed_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('filled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_order_id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('live_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_orders_credential_id'), ['credential_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_orders_execution_id'), ['execution_id'], unique=False)
        batch_op.create_index('ix_live_orders_user_status', ['user_id', 'status'], unique=False)

    op.create_table('trading_halts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('engaged', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('engaged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('rearmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('report', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('trading_limits',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('max_order_notional', sa.Float(), nullable=True),
    sa.Column('max_orders_per_day', sa.Integer(), nullable=True),
    sa.Column('max_turnover_per_day', sa.Float(), nullable=True),
    sa.Column('max_daily_loss', sa.Float(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )


def downgrade() -> None:
    op.drop_table('trading_limits')
    op.drop_table('trading_halts')
    with op.batch_alter_table('live_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_live_orders_user_status')
        batch_op.drop_index(batch_op.f('ix_live_orders_execution_id'))
        batch_op.drop_index(batch_op.f('ix_live_orders_credential_id'))
        batch_op.drop_index(batch_op.f('ix_live_orders_created_at'))

    op.drop_table('live_orders')
    op.drop_table('exchange_credentials')
