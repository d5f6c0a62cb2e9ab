"""messages set aside when they cannot be read (issue 10)

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('unreadable_reason', sa.String(length=500), nullable=True))
        batch.create_index('ix_messages_unreadable_reason', ['unreadable_reason'])


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('ix_messages_unreadable_reason')
        batch.drop_column('unreadable_reason')
