"""bounces kept for moderators, request answers rate-limited (issue 10)

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('control_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kept_reason', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('failed_addresses', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('control_messages', schema=None) as batch_op:
        batch_op.drop_column('failed_addresses')
        batch_op.drop_column('kept_reason')
