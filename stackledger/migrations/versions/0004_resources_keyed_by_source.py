"""resources keyed by (resource_id, valid_from, source)

The same resource seen by two collectors (Gnocchi and Nova, say) with a revision from the same
instant collided on (resource_id, valid_from): the second source's write failed. Each source
now keeps its own revisions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 01:00:00.000000
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table, PostgreSQL alters the constraint in place.
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.drop_constraint('pk_resources', type_='primary')
        batch_op.create_primary_key('pk_resources', ['resource_id', 'valid_from', 'source'])


def downgrade() -> None:
    # Fails if two sources hold the same revision: keep one of them before downgrading.
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.drop_constraint('pk_resources', type_='primary')
        batch_op.create_primary_key('pk_resources', ['resource_id', 'valid_from'])
