"""web hardening (issue 10)

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # --- sign-in (web hardening): a request for an address that is not a member's writes,
    # then withdraws, the same row as a member's, with no person.
    with op.batch_alter_table("sign_in_links") as batch:
        batch.alter_column("person_id", existing_type=sa.Integer(), nullable=True)
    # --- attachments (web hardening): where each part lies in the raw bytes.
    op.add_column("attachments", sa.Column("part_start", sa.BigInteger(), nullable=True))
    op.add_column("attachments", sa.Column("part_end", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("part_end")
        batch.drop_column("part_start")
    op.execute("DELETE FROM sign_in_links WHERE person_id IS NULL")
    with op.batch_alter_table("sign_in_links") as batch:
        batch.alter_column("person_id", existing_type=sa.Integer(), nullable=False)
