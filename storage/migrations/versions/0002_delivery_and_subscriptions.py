"""delivery and subscriptions (issue 3)

Per-topic and per-category follows, the fan-out queue (one row per accepted post, then one
per subscriber's copy), bounce state and digest progress on subscriptions, and the member
requests waiting for their confirmation round-trip.

Revision ID: 0002
Revises: 0001
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_STATUS = sa.Enum('pending', 'sent', 'failed', name='outboundstatus', native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('bounce_score', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_bounce_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('digest_after_pk', sa.Integer(), nullable=True))

    op.create_table('topic_follows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Enum('follow', 'mute', name='followlevel', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_topic_follows_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_topic_follows_topic_id_topics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_follows')),
    sa.UniqueConstraint('person_id', 'topic_id', name=op.f('uq_topic_follows_person_id'))
    )
    with op.batch_alter_table('topic_follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topic_follows_topic_id'), ['topic_id'], unique=False)

    op.create_table('category_follows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_category_follows_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_category_follows_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category_follows')),
    sa.UniqueConstraint('person_id', 'category_id', name=op.f('uq_category_follows_person_id'))
    )
    with op.batch_alter_table('category_follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_category_follows_category_id'), ['category_id'], unique=False)

    op.create_table('fanouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expanded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_fanouts_message_pk_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fanouts')),
    sa.UniqueConstraint('message_pk', name=op.f('uq_fanouts_message_pk'))
    )
    with op.batch_alter_table('fanouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fanouts_expanded_at'), ['expanded_at'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('status', _STATUS, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_deliveries_message_pk_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_deliveries_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('message_pk', 'subscription_id', name=op.f('uq_deliveries_message_pk'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('member_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('command', sa.String(length=32), nullable=False),
    sa.Column('argument', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_requests'))
    )


def downgrade() -> None:
    op.drop_table('member_requests')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_subscription_id'))
        batch_op.drop_index('ix_deliveries_due')
    op.drop_table('deliveries')
    with op.batch_alter_table('fanouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fanouts_expanded_at'))
    op.drop_table('fanouts')
    with op.batch_alter_table('category_follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_category_follows_category_id'))
    op.drop_table('category_follows')
    with op.batch_alter_table('topic_follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topic_follows_topic_id'))
    op.drop_table('topic_follows')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('digest_after_pk')
        batch_op.drop_column('last_bounce_at')
        batch_op.drop_column('bounce_score')
        batch_op.drop_column('disabled_at')
