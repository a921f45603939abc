"""alarm_states and alarm_history (alarms engine)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarm_states',
    sa.Column('rule', sa.String(length=128), nullable=False),
    sa.Column('condition', sa.String(length=64), nullable=False),
    sa.Column('scope_key', sa.String(length=300), nullable=False),
    sa.Column('alarm_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(), nullable=False),
    sa.Column('last_notified_at', sa.DateTime(), nullable=True),
    sa.Column('snoozed_pending', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('rule', 'condition', 'scope_key', name=op.f('pk_alarm_states'))
    )
    op.create_table('alarm_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('rule', sa.String(length=128), nullable=False),
    sa.Column('condition', sa.String(length=64), nullable=False),
    sa.Column('scope_key', sa.String(length=300), nullable=False),
    sa.Column('alarm_id', sa.String(length=36), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('previous', sa.String(length=20), nullable=False),
    sa.Column('current', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reason_data', sa.JSON(), nullable=True),
    sa.Column('notifier', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('delivery', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_history')),
    sa.UniqueConstraint('delivery', name=op.f('uq_alarm_history_delivery'))
    )
    with op.batch_alter_table('alarm_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alarm_history_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alarm_history_rule_at'), ['rule', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alarm_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alarm_history_rule_at'))
        batch_op.drop_index(batch_op.f('ix_alarm_history_at'))
    op.drop_table('alarm_history')
    op.drop_table('alarm_states')
