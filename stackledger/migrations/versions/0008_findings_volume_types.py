"""findings and volume_types; cost_lines keyed by project too

Issue 15: usage a price book cannot price as usual is stored as findings beside the cost lines;
Cinder's volume types are stored so rating resolves a volume type id to its name; and a cost
line is one project's — a resource whose samples name a project in some hours and none in others
has two lines that day, which the old key (without project_id) refused.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OLD_KEY = ['charge_period_start', 'resource_id', 'service', 'price_book', 'flavor_name', 'sku']
NEW_KEY = [*OLD_KEY, 'project_id']


def _key_name(columns: list[str]) -> str:
    return op.f('uq_cost_lines_' + '_'.join(columns))


def upgrade() -> None:
    op.create_table('findings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('charge_period_start', sa.DateTime(), nullable=False),
    sa.Column('charge_period_end', sa.DateTime(), nullable=False),
    sa.Column('price_book', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('effect', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('resource_id', sa.String(length=255), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=512), nullable=False),
    sa.Column('consumed_quantity', sa.Float(), nullable=False),
    sa.Column('consumed_unit', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_findings'))
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_price_book_charge_period_start'),
                              ['price_book', 'charge_period_start'], unique=False)
    op.create_table('volume_types',
    sa.Column('type_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('collected_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('type_id', name=op.f('pk_volume_types'))
    )
    # Batch mode: SQLite rebuilds the table, PostgreSQL swaps the constraint in place.
    with op.batch_alter_table('cost_lines', schema=None) as batch_op:
        batch_op.drop_constraint(_key_name(OLD_KEY), type_='unique')
        batch_op.create_unique_constraint(_key_name(NEW_KEY), NEW_KEY)


def downgrade() -> None:
    # Fails when a resource has lines of two projects on one day: keep one before downgrading.
    with op.batch_alter_table('cost_lines', schema=None) as batch_op:
        batch_op.drop_constraint(_key_name(NEW_KEY), type_='unique')
        batch_op.create_unique_constraint(_key_name(OLD_KEY), OLD_KEY)
    op.drop_table('volume_types')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_price_book_charge_period_start'))
    op.drop_table('findings')
