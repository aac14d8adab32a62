"""webhook_deliveries: a partial index of the deliveries waiting to be processed

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

WAITING = sa.text("processed_at IS NULL")


# Only the unprocessed rows are in it, so it stays as small as the backlog: the scheduler's
# look for forgotten deliveries and a job's look for its integration's waiting ones read it
# instead of the whole table, which holds every delivery of the retention period.
def upgrade():
    op.create_index('ix_webhook_deliveries_waiting', 'webhook_deliveries', ['integration_id', 'id'],
                    postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade():
    op.drop_index('ix_webhook_deliveries_waiting', table_name='webhook_deliveries')
