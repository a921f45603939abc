"""report_deliveries: the report emails sent, so a re-run does not send them again

One row per recipient of each report email sent: the window, the message kind (finance or
team-lead) and the sha256 of its attachments. `stackledger report --email` skips a recipient
who already received the same documents for the window.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 03:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('window_label', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('audience', sa.String(length=512), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_deliveries'))
    )
    with op.batch_alter_table('report_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_deliveries_window_label_kind_recipient'),
                              ['window_label', 'kind', 'recipient'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_deliveries_window_label_kind_recipient'))
    op.drop_table('report_deliveries')
