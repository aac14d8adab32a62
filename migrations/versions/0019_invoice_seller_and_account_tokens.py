"""Invoices get the seller's details, the period and the line grouping; account tokens for invitations and password resets

Revision ID: 0019
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None

SELLER_COLUMNS = ('seller_name', 'seller_address', 'seller_tax_id', 'seller_payment_terms')


# Plain add_column / create_table only: `invoices` is referenced by time_entries and
# invoice_lines, and a SQLite batch copy would cascade-delete their rows (see 0005).
def upgrade():
    op.create_table(
        'seller_details',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False, server_default=''),
        sa.Column('address', sa.String(length=1000), nullable=False, server_default=''),
        sa.Column('tax_id', sa.String(length=64), nullable=False, server_default=''),
        sa.Column('payment_terms', sa.String(length=2000), nullable=False, server_default=''),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_seller_details'),
    )
    op.add_column('invoices', sa.Column('period_start', sa.Date(), nullable=True))
    op.add_column('invoices', sa.Column('period_end', sa.Date(), nullable=True))
    op.add_column('invoices', sa.Column('timezone', sa.String(length=64), nullable=True))
    op.add_column('invoices', sa.Column('line_grouping', sa.String(length=10), nullable=False,
                                        server_default='project'))
    # The seller as printed: copied when the invoice is issued, so later edits never change it.
    op.add_column('invoices', sa.Column('seller_name', sa.String(length=200), nullable=True))
    op.add_column('invoices', sa.Column('seller_address', sa.String(length=1000), nullable=True))
    op.add_column('invoices', sa.Column('seller_tax_id', sa.String(length=64), nullable=True))
    op.add_column('invoices', sa.Column('seller_payment_terms', sa.String(length=2000), nullable=True))
    op.create_table(
        'account_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=10), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False, server_default='user'),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('token_digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("purpose IN ('invite', 'reset')", name=op.f('ck_account_tokens_purpose')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_account_tokens_user_id_users',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_account_tokens'),
    )
    op.create_index('ix_account_tokens_user_id', 'account_tokens', ['user_id'])
    op.create_index('ix_account_tokens_email', 'account_tokens', ['email'])


def downgrade():
    op.drop_table('account_tokens')
    for column in ('period_start', 'period_end', 'timezone', 'line_grouping', *SELLER_COLUMNS):
        op.execute(f'ALTER TABLE invoices DROP COLUMN {column}')  # SQLite >= 3.35 and PostgreSQL
    op.drop_table('seller_details')
