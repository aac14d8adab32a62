"""calendar events: the integration each was imported through

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # Plain add_column (no batch): a batch would copy and drop calendar_events, and on SQLite
    # that cascade-deletes every calendar_event_people row. No foreign key: SQLite takes one
    # only inline in ADD COLUMN, unnamed, and integration rows are never deleted anyway (the
    # disconnect removes the events itself).
    op.add_column('calendar_events', sa.Column('integration_id', sa.Integer(), nullable=True))
    op.create_index('ix_calendar_events_integration', 'calendar_events', ['integration_id'])
    # Existing events: the integration whose link names them.
    op.execute(
        "UPDATE calendar_events SET integration_id = (SELECT min(external_links.integration_id) "
        "FROM external_links WHERE external_links.local_kind = 'calendar_event' "
        "AND external_links.local_id = calendar_events.id)")


def downgrade():
    op.drop_index('ix_calendar_events_integration', table_name='calendar_events')
    op.drop_column('calendar_events', 'integration_id')  # SQLite 3.35+ drops a plain column in place
