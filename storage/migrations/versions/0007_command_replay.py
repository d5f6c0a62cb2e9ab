"""a signed command mail acts once (issue 10)

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('command_mails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sent_to_topic', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('posted', sa.Boolean(), server_default='0', nullable=False))
    op.create_table('signed_commands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('signature_hash', sa.String(length=64), nullable=False),
    sa.Column('command_mail_id', sa.Integer(), nullable=False),
    sa.Column('acted_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signed_commands')),
    sa.UniqueConstraint('signature_hash', name=op.f('uq_signed_commands_signature_hash'))
    )


def downgrade() -> None:
    op.drop_table('signed_commands')
    with op.batch_alter_table('command_mails', schema=None) as batch_op:
        batch_op.drop_column('posted')
        batch_op.drop_column('sent_to_topic')
        batch_op.drop_column('answered_id')
