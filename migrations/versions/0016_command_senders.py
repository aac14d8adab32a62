"""command_senders: the e-mail a chat-command sender had when the provider was last asked

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'command_senders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('integration_id', sa.Integer(), nullable=False),
        sa.Column('remote_user_id', sa.String(length=100), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('checked_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['integration_id'], ['integrations.id'],
                                name=op.f('fk_command_senders_integration_id_integrations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_command_senders')),
        sa.UniqueConstraint('integration_id', 'remote_user_id', name='uq_command_senders_remote_user'),
    )


def downgrade():
    op.drop_table('command_senders')
