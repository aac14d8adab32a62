"""integrations.team_integration_id: a user's personal link to a team connection (issue 16)

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


# A plain ADD COLUMN, never batch mode on `integrations`: a SQLite batch copy drops the old
# table, which cascade-deletes every link, cursor, run and outbox row (see 0004).
def upgrade():
    op.add_column('integrations', sa.Column('team_integration_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_integrations_team_integration_id'), 'integrations', ['team_integration_id'])


def downgrade():
    op.execute("DELETE FROM integrations WHERE team_integration_id IS NOT NULL")
    op.drop_index(op.f('ix_integrations_team_integration_id'), table_name='integrations')
    op.drop_column('integrations', 'team_integration_id')
