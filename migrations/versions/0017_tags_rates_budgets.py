"""tags on entries, billable default and budget on projects, per-user and default hourly rates

Revision ID: 0017
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0013'
branch_labels = None
depends_on = None


# New tables and plain ADD / DROP COLUMN, never batch mode on `projects` or `users`: a SQLite
# batch copy drops the old table, which cascade-deletes every row that references it (see 0005).
# For the same reason budget_kind has no CHECK constraint (ADD COLUMN cannot add a named one);
# the project form allows only 'hours' and 'money'.
def upgrade():
    op.create_table(
        'tags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('name_key', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
        sa.UniqueConstraint('name_key', name=op.f('uq_tags_name_key')),
    )
    op.create_table(
        'time_entry_tags',
        sa.Column('time_entry_id', sa.Integer(), nullable=False),
        sa.Column('tag_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['time_entry_id'], ['time_entries.id'],
                                name=op.f('fk_time_entry_tags_time_entry_id_time_entries'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_time_entry_tags_tag_id_tags'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('time_entry_id', 'tag_id', name=op.f('pk_time_entry_tags')),
    )
    op.create_index(op.f('ix_time_entry_tags_tag_id'), 'time_entry_tags', ['tag_id'])
    op.create_table(
        'rate_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('default_hourly_rate', sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_settings')),
    )
    op.add_column('projects', sa.Column('billable_by_default', sa.Boolean(), nullable=False,
                                        server_default=sa.true()))
    op.add_column('projects', sa.Column('budget_kind', sa.String(length=10), nullable=True))
    op.add_column('projects', sa.Column('budget_amount', sa.Numeric(precision=12, scale=2), nullable=True))
    op.add_column('users', sa.Column('hourly_rate', sa.Numeric(precision=10, scale=2), nullable=True))


def downgrade():
    for table, column in (('users', 'hourly_rate'), ('projects', 'budget_amount'), ('projects', 'budget_kind'),
                          ('projects', 'billable_by_default')):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')  # SQLite >= 3.35 and PostgreSQL
    op.drop_table('rate_settings')
    op.drop_index(op.f('ix_time_entry_tags_tag_id'), table_name='time_entry_tags')
    op.drop_table('time_entry_tags')
    op.drop_table('tags')
