"""execution definition snapshot and manual retries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('workflow_executions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('workflow_version', sa.Integer(), nullable=True))

    op.create_table('manual_retries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['workflow_executions.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('manual_retries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manual_retries_execution_id'), ['execution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_manual_retries_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_manual_retries_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('manual_retries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manual_retries_created_at'))
        batch_op.drop_index(batch_op.f('ix_manual_retries_user_id'))
        batch_op.drop_index(batch_op.f('ix_manual_retries_execution_id'))

    op.drop_table('manual_retries')
    with op.batch_alter_table('workflow_executions', schema=None) as batch_op:
        batch_op.drop_column('workflow_version')
        batch_op.drop_column('definition')
