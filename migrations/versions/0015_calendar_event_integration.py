"""calendar events: the integration each was imported through

Revision ID: 0015
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    if 'integration_id' in {c['name'] for c in sa.inspect(op.get_bind()).get_columns('calendar_events')}:
        # SQLite kept the column on downgrade (below): only the index comes back.
        op.create_index('ix_calendar_events_integration', 'calendar_events', ['integration_id'])
        return
    # Plain ALTER TABLE (no batch): a batch would copy and drop calendar_events, and on SQLite
    # that cascade-deletes every calendar_event_people row. SQLite takes the reference only
    # inline in ADD COLUMN; Alembic adds it as a separate constraint elsewhere.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE calendar_events ADD COLUMN integration_id INTEGER "
                   "REFERENCES integrations (id) ON DELETE CASCADE")
    else:
        op.add_column('calendar_events', sa.Column('integration_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_calendar_events_integration_id_integrations', 'calendar_events',
                              'integrations', ['integration_id'], ['id'], ondelete='CASCADE')
    op.create_index('ix_calendar_events_integration', 'calendar_events', ['integration_id'])
    # Existing events: the integration whose link names them.
    op.execute(
        "UPDATE calendar_events SET integration_id = (SELECT min(external_links.integration_id) "
        "FROM external_links WHERE external_links.local_kind = 'calendar_event' "
        "AND external_links.local_id = calendar_events.id)")


def downgrade():
    op.drop_index('ix_calendar_events_integration', table_name='calendar_events')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite (3.35+) drops a plain column, but not one a foreign key constraint names;
        # the data stays meaningful without it, so the column is left as it is there.
        return
    op.drop_constraint('fk_calendar_events_integration_id_integrations', 'calendar_events', type_='foreignkey')
    op.drop_column('calendar_events', 'integration_id')
