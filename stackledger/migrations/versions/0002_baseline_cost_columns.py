"""cost_lines: public baseline provenance (source price and currency, provider region, mapping)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cost_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_unit_price', sa.Numeric(precision=24, scale=10), nullable=True))
        batch_op.add_column(sa.Column('source_currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('pricing_region', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('mapping', sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cost_lines', schema=None) as batch_op:
        batch_op.drop_column('mapping')
        batch_op.drop_column('pricing_region')
        batch_op.drop_column('source_currency')
        batch_op.drop_column('source_unit_price')
