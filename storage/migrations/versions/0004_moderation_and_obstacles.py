"""moderation and obstacles (issue 6)

Moderator command mails awaiting authentication or confirmation, the audit log, always-allowed
senders, obstacle and good-practice sheets; the topic a held message was addressed to, and
the topic a moderator split a new one off.

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('command_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=995), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('commands', sa.Text(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=True),
    sa.Column('held_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('received', 'awaiting', 'done', name='commandstatus', native_enum=False, length=32), nullable=False),
    sa.Column('authenticated_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_command_mails_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_command_mails'))
    )
    with op.batch_alter_table('command_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_command_mails_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_command_mails_status'), ['status'], unique=False)

    op.create_table('moderation_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=True),
    sa.Column('held_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('after', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_moderation_log_actor_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_log'))
    )
    with op.batch_alter_table('moderation_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderation_log_topic_id'), ['topic_id'], unique=False)

    op.create_table('allowed_senders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['people.id'], name=op.f('fk_allowed_senders_added_by_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allowed_senders')),
    sa.UniqueConstraint('email', name=op.f('uq_allowed_senders_email'))
    )

    op.create_table('topic_sheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('obstacle', 'good-practice', name='sheetkind', native_enum=False, length=32), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['people.id'], name=op.f('fk_topic_sheets_author_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_topic_sheets_topic_id_topics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_sheets'))
    )
    with op.batch_alter_table('topic_sheets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topic_sheets_topic_id'), ['topic_id'], unique=False)

    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split_from_id', sa.Integer(), nullable=True))

    with op.batch_alter_table('held_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic_hint', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('held_messages', schema=None) as batch_op:
        batch_op.drop_column('topic_hint')

    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.drop_column('split_from_id')

    with op.batch_alter_table('topic_sheets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topic_sheets_topic_id'))
    op.drop_table('topic_sheets')
    op.drop_table('allowed_senders')
    with op.batch_alter_table('moderation_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_log_topic_id'))
        batch_op.drop_index(batch_op.f('ix_moderation_log_at'))
    op.drop_table('moderation_log')
    with op.batch_alter_table('command_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_command_mails_status'))
        batch_op.drop_index(batch_op.f('ix_command_mails_message_id'))
    op.drop_table('command_mails')
