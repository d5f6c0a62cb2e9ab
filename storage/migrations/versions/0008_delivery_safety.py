"""copies that cannot be built, relay pauses (issue 10)

Revision ID: 0008
Revises: 0007
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('relay_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('paused_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relay_pauses'))
    )
    # Its one row, written now so that two workers pausing at once never both insert it.
    op.execute("INSERT INTO relay_pauses (id, failures, last_error) VALUES (1, 0, '')")


def downgrade() -> None:
    op.drop_table('relay_pauses')
