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

    # Files of a web form previewed or refused, kept until the post is sent.
    op.create_table('draft_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=995), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_draft_attachments_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_attachments'))
    )
    with op.batch_alter_table('draft_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_attachments_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_draft_attachments_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('draft_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_attachments_message_id'))
        batch_op.drop_index(batch_op.f('ix_draft_attachments_created_at'))
    op.drop_table('draft_attachments')
    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.drop_column('answer_message_id')
