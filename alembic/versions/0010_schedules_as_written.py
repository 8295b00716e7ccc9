"""schedules as written: skip, pause note and resume time, outcome counts; configs made whole

Each schedule becomes the whole truth of when its workflow runs: a field its stored config
left to the workflow's trigger node (same trigger type) is copied into the config, so no
schedule depends on the node any more. Adds skip_next, pause_note, paused_at, resume_at and
the missed/skipped/failed counters, counted from the history already kept. Downgrade drops the
new columns and keeps every schedule, its config and its history.

Revision ID: schedules_as_written
Revises: alert_only_mode
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'schedules_as_written'
down_revision: Union[str, None] = 'alert_only_mode'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
# as of this revision (copied, not imported: a migration must not change with the app)
_NODE_FOR_TRIGGER = {"cron": "schedule_trigger", "time": "time_trigger",
                     "price": "price_trigger", "indicator": "indicator_trigger",
                     "webhook": "webhook_trigger"}
_NODE_ONLY_PARAMS = {"timeout_seconds", "join", "type"}
_MISSED_REASONS = ("downtime", "misfire")


def _complete_configs(conn: sa.Connection) -> None:
    """Copy the trigger node's params a schedule's config does not set into the config."""
    jobs = sa.table('scheduled_jobs', sa.column('id', sa.Integer),
                    sa.column('workflow_id', sa.Integer), sa.column('trigger_type', sa.String),
                    sa.column('trigger_config', _JSON))
    workflows = sa.table('workflows', sa.column('id', sa.Integer),
                         sa.column('definition', _JSON))
    rows = conn.execute(sa.select(jobs.c.id, jobs.c.trigger_type, jobs.c.trigger_config,
                                  workflows.c.definition)
                        .join(workflows, workflows.c.id == jobs.c.workflow_id)).all()
    for job_id, trigger_type, config, definition in rows:
        if not isinstance(config, dict) or not isinstance(definition, dict):
            continue  # a corrupt row stays as it is (the scheduler reports it)
        node_type = _NODE_FOR_TRIGGER.get(trigger_type)
        node = next((n for n in definition.get("nodes") or []
                     if isinstance(n, dict) and n.get("type") == node_type), None)
        params = node.get("params") if node else None
        if not isinstance(params, dict):
            continue
        missing = {k: v for k, v in params.items()
                   if k not in config and k not in _NODE_ONLY_PARAMS}
        if missing:
            conn.execute(jobs.update().where(jobs.c.id == job_id)
                         .values(trigger_config={**config, **missing}))


def _count_history(conn: sa.Connection) -> None:
    """Counters from the missed_runs and job_queue rows kept so far."""
    missed = ", ".join(f"'{r}'" for r in _MISSED_REASONS)
    conn.execute(sa.text(
        "UPDATE scheduled_jobs SET "
        f"missed_count = (SELECT count(*) FROM missed_runs m WHERE m.scheduled_job_id = "
        f"scheduled_jobs.id AND m.reason IN ({missed})), "
        f"skipped_count = (SELECT count(*) FROM missed_runs m WHERE m.scheduled_job_id = "
        f"scheduled_jobs.id AND m.reason NOT IN ({missed})), "
        "failed_count = (SELECT count(*) FROM job_queue q WHERE q.scheduled_job_id = "
        "scheduled_jobs.id AND q.status = 'failed')"))


def upgrade() -> None:
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skip_next', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('pause_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('paused_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resume_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('missed_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('skipped_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('failed_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_scheduled_jobs_resume_at'), ['resume_at'], unique=False)
    conn = op.get_bind()
    _complete_configs(conn)
    _count_history(conn)


def downgrade() -> None:
    op.drop_index(op.f('ix_scheduled_jobs_resume_at'), table_name='scheduled_jobs')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for column in ('failed_count', 'skipped_count', 'missed_count', 'resume_at', 'paused_at',
                   'pause_note', 'skip_next'):
        if sqlite:  # in place (SQLite >= 3.35): a batch copy of the table would trip the
            # foreign keys of job_queue, missed_runs... that point at scheduled_jobs
            op.execute(f'ALTER TABLE scheduled_jobs DROP COLUMN {column}')
        else:
            op.drop_column('scheduled_jobs', column)
