"""compact samples: sample_rows (day partitions on PostgreSQL), dictionaries, batches, attribute
revisions, daily usage, retired days; the old samples table moved into them and dropped

A stored sample was ~1 KB (its JSON metadata); a compact row is ~128 bytes with its index
(docs/dev/SCALE.md). Existing samples are moved in chunks through the same code ingest uses
(codes, statements, revisions; no re-rating marks), every meter kept; daily usage is built from
the stored hourly usage, so the books priced on the month so far read the same months as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sample_rows',
    sa.Column('ts', sa.DateTime(), nullable=False),
    sa.Column('volume', sa.Float(), nullable=False),
    sa.Column('message', sa.Uuid(), nullable=False),
    sa.Column('resource', sa.Integer(), nullable=False),
    sa.Column('project', sa.Integer(), nullable=False),
    sa.Column('batch', sa.Integer(), nullable=False),
    sa.Column('meter', sa.SmallInteger(), nullable=False),
    sa.Column('day', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'message', name=op.f('pk_sample_rows')),
    postgresql_partition_by='RANGE (day)',
    sqlite_with_rowid=False,
    )
    op.create_table('sample_meters',
    sa.Column('code', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_sample_meters')),
    sa.UniqueConstraint('name', name=op.f('uq_sample_meters_name'))
    )
    op.create_table('sample_resources',
    sa.Column('code', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_sample_resources')),
    sa.UniqueConstraint('resource_id', name=op.f('uq_sample_resources_resource_id'))
    )
    op.create_table('sample_projects',
    sa.Column('code', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_sample_projects')),
    sa.UniqueConstraint('project_id', name=op.f('uq_sample_projects_project_id'))
    )
    op.create_table('sample_batches',
    sa.Column('code', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('origin', sa.String(length=512), nullable=False),
    sa.Column('locations', sa.Text(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_sample_batches'))
    )
    op.create_table('resource_revisions',
    sa.Column('resource', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('valid_to', sa.DateTime(), nullable=False),
    sa.Column('flavor_name', sa.Text(), nullable=True),
    sa.Column('vcpus', sa.Float(), nullable=True),
    sa.Column('ram_mib', sa.Float(), nullable=True),
    sa.Column('volume_type', sa.Text(), nullable=True),
    sa.Column('volume_type_id', sa.Text(), nullable=True),
    sa.Column('instance_id', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=True),
    sa.Column('display_name', sa.Text(), nullable=True),
    sa.Column('project_id', sa.Text(), nullable=True),
    sa.Column('seen_to', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('resource', 'valid_from', name=op.f('pk_resource_revisions'))
    )
    op.create_table('retired_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_retired_days'))
    )
    op.create_table('daily_usage',
    sa.Column('charge_period_start', sa.DateTime(), nullable=False),
    sa.Column('charge_period_end', sa.DateTime(), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('resource_id', sa.String(length=255), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('consumed_quantity', sa.Float(), nullable=False),
    sa.Column('consumed_unit', sa.String(length=32), nullable=False),
    sa.Column('flavor_name', sa.String(length=255), nullable=False),
    sa.Column('vcpus', sa.Float(), nullable=True),
    sa.Column('ram_mib', sa.Float(), nullable=True),
    sa.Column('volume_type', sa.String(length=255), nullable=True),
    sa.Column('region', sa.String(length=128), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    )
    with op.batch_alter_table('daily_usage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_daily_usage_source_charge_period_start'), ['source', 'charge_period_start'], unique=False)

    from stackledger.pipeline.sample_migration import build_daily_usage, move_samples

    connection = op.get_bind()
    move_samples(connection)
    build_daily_usage(connection)
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_timestamp'))
    op.drop_table('samples')


def downgrade() -> None:
    # The metadata of the moved samples is not kept: going back leaves `samples` empty.
    op.create_table('samples',
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('meter', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('volume', sa.Float(), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('resource_id', sa.String(length=255), nullable=False),
    sa.Column('timestamp', sa.DateTime(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('source', sa.String(length=255), nullable=True),
    sa.Column('ingested_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_samples'))
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_timestamp'), ['timestamp'], unique=False)
    with op.batch_alter_table('daily_usage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_daily_usage_source_charge_period_start'))
    for table in ('daily_usage', 'retired_days', 'resource_revisions', 'sample_batches', 'sample_projects',
                  'sample_resources', 'sample_meters', 'sample_rows'):
        op.drop_table(table)
