"""hardening: users.session_token (revocable sessions); whole webhook delivery ids

Revision ID: 0005
Revises: 0004
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# Plain ADD / DROP COLUMN, not batch mode: on SQLite a batch copies `users` and drops the old
# table, which cascade-deletes every time entry, API token and personal integration of every
# account while foreign keys are enforced. The '' default only fills the column until each
# account gets its token just below.
def upgrade():
    op.add_column('users', sa.Column('session_token', sa.String(length=64), nullable=False, server_default=''))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    connection = op.get_bind()
    # Each account its own token: sessions signed in before the upgrade (whose id has none) end.
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == user_id).values(session_token=secrets.token_hex(16)))


def downgrade():
    op.execute('ALTER TABLE users DROP COLUMN session_token')  # SQLite >= 3.35 and PostgreSQL
