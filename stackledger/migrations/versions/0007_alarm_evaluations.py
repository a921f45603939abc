"""alarm_evaluations: every instant the alarm rules were evaluated

alarm_history keeps only transitions and notifications, so a month whose alarms all stayed ok
looked like a month nobody evaluated. One row per evaluation instant lets the project reports
say "no alarm fired" only when the rules did run in that month.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarm_evaluations',
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('rules', sa.Integer(), nullable=False),
    sa.Column('alarms', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('at', name=op.f('pk_alarm_evaluations'))
    )


def downgrade() -> None:
    op.drop_table('alarm_evaluations')
