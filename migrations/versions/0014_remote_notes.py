"""external_links.remote_note: what a provider's side did to a copy TimeHub sent (an accountant's
edit of an invoice), shown beside it and never overwritten

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


# A plain ADD / DROP COLUMN, no batch mode: a SQLite batch copy of external_links would be
# a table copy for nothing (nothing references it, but plain is what the project uses).
def upgrade():
    op.add_column('external_links', sa.Column('remote_note', sa.Text(), nullable=True))


def downgrade():
    op.drop_column('external_links', 'remote_note')
