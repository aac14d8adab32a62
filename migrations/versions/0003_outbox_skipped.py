"""outbox: a "skipped" status for changes a provider would refuse (Jira worklogs under a minute)

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _status_check(batch_op, statuses: str) -> None:
    batch_op.drop_constraint(op.f('ck_outbox_status'), type_='check')
    batch_op.create_check_constraint(op.f('ck_outbox_status'), f"status IN ({statuses})")


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        _status_check(batch_op, "'pending', 'done', 'failed', 'skipped'")


def downgrade():
    op.execute("UPDATE outbox SET status = 'done' WHERE status = 'skipped'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        _status_check(batch_op, "'pending', 'done', 'failed'")
