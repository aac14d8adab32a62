"""users: deactivated_at, so an account can be switched off while its history stays

Revision ID: 0007
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


# Plain ADD / DROP COLUMN, never batch mode on `users`: a SQLite batch copy drops the old table,
# which cascade-deletes every row that references an account (docs/design.md, integration data).
def upgrade():
    op.add_column('users', sa.Column('deactivated_at', sa.DateTime(), nullable=True))


def downgrade():
    op.execute('ALTER TABLE users DROP COLUMN deactivated_at')  # SQLite >= 3.35 and PostgreSQL
