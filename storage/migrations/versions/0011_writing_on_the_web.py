"""writing on the web, closing notices, accepted answers (issue 9)

Revision ID: 0011
Revises: 0010
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # The accepted answer of a topic (a message id; no foreign key, see the model).
    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_message_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.drop_column('answer_message_id')
