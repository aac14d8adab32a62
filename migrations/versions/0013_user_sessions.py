"""user_sessions: one row per signed-in browser, so each session ends on its own; users.session_token goes

Revision ID: 0013
Revises: 0009
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0009'
branch_labels = None
depends_on = None


# A new table and a plain DROP COLUMN, never batch mode on `users`: a SQLite batch copy drops
# the old table, which cascade-deletes every row that references an account (see 0005).
# Sessions signed in before the upgrade hold the old "<user id>:<token>" id and end.
def upgrade():
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('user_agent', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_user_sessions_user_id_users', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_user_sessions'),
    )
    op.create_index('ix_user_sessions_user_id', 'user_sessions', ['user_id'])
    op.create_index('ix_user_sessions_created_at', 'user_sessions', ['created_at'])
    op.execute('ALTER TABLE users DROP COLUMN session_token')  # SQLite >= 3.35 and PostgreSQL


def downgrade():
    op.drop_table('user_sessions')
    # As 0005 made it: each account its own token (every session ends, as on upgrade).
    op.add_column('users', sa.Column('session_token', sa.String(length=64), nullable=False, server_default=''))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == user_id).values(session_token=secrets.token_hex(16)))
