"""samples: drop the (meter, timestamp) index

Every sample written paid for three B-trees; this one made the Kafka consumer's COPY about a
quarter slower and served no query better than `ix_samples_timestamp`: usage reads all known
meters of a time range (a BitmapOr over the timestamp index), the completeness check reads by
time only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 02:00:00.000000
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_meter_timestamp'))


def downgrade() -> None:
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_meter_timestamp'), ['meter', 'timestamp'], unique=False)
