"""integrations: the settings bag split into preferences, connection facts, connector state and flow state

Until now `integrations.settings` held four kinds of data. After this step it
keeps only the admin's sync preferences; what connecting learnt, the
connector's own state and a connection flow under way get a column each.
Every value is kept: the downgrade merges them back.

Revision ID: 0004
Revises: 0003
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

NEW_COLUMNS = ('connection_facts', 'connector_state', 'flow_state')
# What the settings pages wrote up to this revision: every other key was learnt when connecting,
# except Jira's webhooks (connector state, kept under "webhooks") and a pending account choice.
PREFERENCE_KEYS = frozenset({'sync_interval_minutes', 'allow_list', 'updated_since', 'push_worklogs',
                             'status_map', 'user_map'})
CONNECTOR_STATE_KEYS = {'jira_webhooks': 'webhooks'}
FLOW_KEYS = frozenset({'pending_choice'})

integrations = sa.table('integrations', sa.column('id', sa.Integer), sa.column('settings', sa.JSON),
                        *(sa.column(name, sa.JSON) for name in NEW_COLUMNS))


def _loaded(value):
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = json.loads(value)
    return dict(value or {})


def split(settings: dict) -> dict:
    """One integration's old settings, as the four new columns."""
    parts = {'settings': {}, 'connection_facts': {}, 'connector_state': {}, 'flow_state': {}}
    for key, value in settings.items():
        if key in PREFERENCE_KEYS:
            parts['settings'][key] = value
        elif key in CONNECTOR_STATE_KEYS:
            parts['connector_state'][CONNECTOR_STATE_KEYS[key]] = value
        elif key in FLOW_KEYS:
            parts['flow_state'][key] = value
        else:
            parts['connection_facts'][key] = value
    return parts


def merge(row) -> dict:
    """The four columns of one integration, as the old settings."""
    merged = dict(_loaded(row.connection_facts))
    merged.update({old: value for old, new in CONNECTOR_STATE_KEYS.items()
                   for key, value in _loaded(row.connector_state).items() if key == new})
    merged.update(_loaded(row.flow_state))
    merged.update(_loaded(row.settings))
    return merged


# Plain ADD / DROP COLUMN, not batch mode: on SQLite a batch copies the table and drops the
# old one, and dropping it would cascade-delete every row that references an integration
# (links, cursors, runs, outbox) while foreign keys are enforced.
def upgrade():
    for name in NEW_COLUMNS:
        op.add_column('integrations', sa.Column(name, sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    connection = op.get_bind()
    for row in connection.execute(sa.select(integrations.c.id, integrations.c.settings)).all():
        connection.execute(integrations.update().where(integrations.c.id == row.id)
                           .values(**split(_loaded(row.settings))))


def downgrade():
    connection = op.get_bind()
    for row in connection.execute(sa.select(integrations)).all():
        connection.execute(integrations.update().where(integrations.c.id == row.id).values(settings=merge(row)))
    for name in NEW_COLUMNS:
        op.execute(f'ALTER TABLE integrations DROP COLUMN {name}')  # SQLite >= 3.35 and PostgreSQL
