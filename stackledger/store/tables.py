"""SQLAlchemy Core tables for the canonical records (DESIGN §3).

Timestamps are naive UTC. Money is Numeric; quantities of usage are floats (measurements),
turned into Decimal once, at the cost line.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

MONEY = Numeric(20, 6)
PRICE = Numeric(24, 10)
QUANTITY = Numeric(28, 9)
ID = String(255)

# ---------------------------------------------------------------- samples, compactly (docs/dev/SCALE.md §1-2)

# One row per stored sample: 48 bytes of columns, widest first so PostgreSQL adds no padding. The
# dictionaries below turn resource, project and meter into codes; provenance is per batch. On
# PostgreSQL the table is partitioned by `day` (one partition per UTC day, created on demand by
# `store.sample_days`); SQLite keeps the same columns in one table. The key (day, message) is
# the dedupe guarantee: the same message twice on one day is stored once.
sample_rows = Table(
    "sample_rows",
    metadata,
    Column("ts", DateTime, nullable=False),  # naive UTC, µs
    Column("volume", Float, nullable=False),  # in the meter's declared unit
    Column("message", Uuid, nullable=False),  # store.sample_codes.message_key(message_id)
    Column("resource", Integer, nullable=False),  # sample_resources.code
    Column("project", Integer, nullable=False),  # sample_projects.code; 0: no project (unallocated)
    Column("batch", Integer, nullable=False),  # sample_batches.code: where the sample came from
    Column("meter", SmallInteger, nullable=False),  # sample_meters.code
    Column("day", SmallInteger, nullable=False),  # UTC day of ts, days since 2000-01-01
    PrimaryKeyConstraint("day", "message"),
    postgresql_partition_by="RANGE (day)",
    sqlite_with_rowid=False,  # the key is the table: a day is one range of it
)

# Codes come from the identity of each dictionary (1, 2, …); project code 0 means "no project".
sample_meters = Table(
    "sample_meters", metadata,
    Column("code", Integer, primary_key=True, autoincrement=True),  # stored as int2 in sample_rows
    Column("name", String(128), nullable=False, unique=True),
)  # fmt: skip
sample_resources = Table(
    "sample_resources", metadata,
    Column("code", Integer, primary_key=True, autoincrement=True),
    Column("resource_id", String(255), nullable=False, unique=True),
)  # fmt: skip
sample_projects = Table(
    "sample_projects", metadata,
    Column("code", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(255), nullable=False, unique=True),
)  # fmt: skip
# One row per stored batch: a file's lines n-m, a Kafka batch's partition offsets. A conflicting
# sample's dead letter names the batch that stored the other one.
sample_batches = Table(
    "sample_batches", metadata,
    Column("code", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(512), nullable=False),  # file path, "kafka:<topic>"
    Column("locations", Text, nullable=False),  # "lines 1-5000", "partition 0 offsets 17-99"
    Column("samples", Integer, nullable=False),  # rows the batch stored
    Column("received_at", DateTime, nullable=False),
)  # fmt: skip

# What samples said about their resources, effective-dated (transforms.usage.revisions): a new row
# only when something changed. Instants are naive UTC; the first revision holds from 1900-01-01,
# the last until 2200-01-01. Text columns are unbounded: metadata values have no length limit.
resource_revisions = Table(
    "resource_revisions", metadata,
    Column("resource", Integer, primary_key=True),  # sample_resources.code
    Column("valid_from", DateTime, primary_key=True),
    Column("valid_to", DateTime, nullable=False),
    Column("flavor_name", Text), Column("vcpus", Float), Column("ram_mib", Float), Column("volume_type", Text),
    Column("volume_type_id", Text), Column("instance_id", Text), Column("status", Text), Column("display_name", Text),
    Column("project_id", Text),
    Column("seen_to", DateTime, nullable=False),  # no statement this revision describes is later
)  # fmt: skip

# Days whose raw samples retention dropped (`stackledger db retention`): samples for them are refused.
retired_days = Table(
    "retired_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("retired_at", DateTime, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of (origin, location, payload): re-reading the same bad line stores it once.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("origin", String(512), nullable=False),  # file path, kafka topic, collector
    Column("location", String(255), nullable=False),  # "line 12", "partition 3 offset 991"
    Column("reason", Text, nullable=False),
    Column("payload", Text),
    Column("received_at", DateTime, nullable=False),
)

resources = Table(
    "resources",
    metadata,
    Column("resource_id", ID, primary_key=True),
    Column("valid_from", DateTime, primary_key=True),
    Column("valid_to", DateTime),
    Column("resource_type", String(32), nullable=False),
    Column("project_id", ID),
    Column("name", String(512)),
    Column("region", String(128)),
    Column("flavor_name", String(255)),
    Column("vcpus", Float),
    Column("ram_mib", Float),
    Column("disk_gib", Float),
    Column("volume_type", String(255)),
    Column("size_gib", Float),
    Column("started_at", DateTime),
    Column("ended_at", DateTime),
    # Part of the key: each collector keeps its own revisions of a resource (migration 0004).
    Column("source", String(64), primary_key=True),
    Index(None, "project_id"),
)

projects = Table(
    "projects",
    metadata,
    Column("project_id", ID, primary_key=True),
    Column("name", String(512)),
    Column("domain_id", ID),
    Column("parent_id", ID),
    Column("tags", JSON),
    Column("team", String(255)),
    Column("cost_center", String(255)),
    Column("budget_amount", MONEY),
    Column("budget_currency", String(3)),
    Column("budget_period", String(16)),
    Column("source", String(64)),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charge_period_start", DateTime, nullable=False),
    Column("charge_period_end", DateTime, nullable=False),
    Column("project_id", ID),
    Column("resource_id", ID, nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("consumed_quantity", Float, nullable=False),
    Column("consumed_unit", String(32), nullable=False),
    # '' rather than NULL so the unique key below holds (NULLs never collide in SQL).
    Column("flavor_name", String(255), nullable=False, default=""),
    Column("vcpus", Float),
    Column("ram_mib", Float),
    Column("volume_type", String(255)),
    Column("region", String(128)),
    Column("source", String(64), nullable=False),
    # flavor_name is in the key: a resize inside an hour gives one instance-hour row per flavor.
    UniqueConstraint("charge_period_start", "resource_id", "service", "source", "flavor_name"),
    Index(None, "charge_period_start"),
)

# Usage summed per UTC day (`transforms.rating.daily_usage`), what the price books read: written
# with the hourly rows by `stackledger rate`, and read back a month at a time, in project chunks,
# by the books whose prices depend on the month so far. Kept for good, like cost lines.
daily_usage = Table(
    "daily_usage",
    metadata,
    Column("charge_period_start", DateTime, nullable=False),  # midnight UTC
    Column("charge_period_end", DateTime, nullable=False),
    Column("project_id", ID),
    Column("resource_id", ID, nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("consumed_quantity", Float, nullable=False),
    Column("consumed_unit", String(32), nullable=False),
    Column("flavor_name", String(255), nullable=False, default=""),
    Column("vcpus", Float),
    Column("ram_mib", Float),
    Column("volume_type", String(255)),
    Column("region", String(128)),
    Column("source", String(64), nullable=False),
    Index(None, "source", "charge_period_start"),
)

cost_lines = Table(
    "cost_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charge_period_start", DateTime, nullable=False),
    Column("charge_period_end", DateTime, nullable=False),
    Column("project_id", ID),
    Column("resource_id", ID, nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("flavor_name", String(255), nullable=False, default=""),
    Column("volume_type", String(255)),
    Column("region", String(128)),
    Column("consumed_quantity", Float, nullable=False),
    Column("consumed_unit", String(32), nullable=False),
    Column("price_book", String(32), nullable=False),
    Column("sku", String(255), nullable=False),
    Column("list_unit_price", PRICE, nullable=False),
    Column("pricing_quantity", QUANTITY, nullable=False),
    Column("pricing_unit", String(32), nullable=False),
    Column("cost", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("price_as_of", Date),
    Column("fx_rate", PRICE),  # set when a price book's currency was converted
    # Public baselines (transforms.baselines): the price before conversion, the provider region
    # it is for, and how the usage was matched ('m1.large 4 vCPU 8 GiB → m6i.xlarge …').
    Column("source_unit_price", PRICE),
    Column("source_currency", String(3)),
    Column("pricing_region", String(128)),
    Column("mapping", String(512)),
    # project_id is in the key (migration 0008): a resource whose samples name a project in some
    # hours and none in others has a line for each that day (transforms.rating, "Projects").
    UniqueConstraint("charge_period_start", "resource_id", "service", "price_book", "flavor_name", "sku", "project_id"),
    Index(None, "price_book", "charge_period_start"),
    Index(None, "project_id"),
)

# Usage a price book could not price as usual (transforms.findings), one row per daily usage row:
# replaced per price book and span of days together with that book's cost lines.
findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charge_period_start", DateTime, nullable=False),
    Column("charge_period_end", DateTime, nullable=False),
    Column("price_book", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("effect", String(32), nullable=False),  # unpriced | base price
    Column("project_id", ID),  # NULL: unallocated
    Column("resource_id", ID, nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("consumed_quantity", Float, nullable=False),
    Column("consumed_unit", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Index(None, "price_book", "charge_period_start"),
)

# Cinder's volume types (collectors.cinder): rating resolves a volume type id in usage to its name.
volume_types = Table(
    "volume_types",
    metadata,
    Column("type_id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("collected_at", DateTime, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("window_start", DateTime, primary_key=True),
    Column("window_end", DateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("completed_at", DateTime, nullable=False),
)

# Days that received samples after they were rated: `stackledger rate` re-rates them.
rerate_days = Table(
    "rerate_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("marked_at", DateTime, nullable=False),
)

# Alarms (alarms/engine.py): one row per alarm = (rule, condition, scope key), replaced on each
# evaluation; `condition` is a budget threshold ('actual 80%') or ''.
alarm_states = Table(
    "alarm_states",
    metadata,
    Column("rule", String(128), primary_key=True),
    Column("condition", String(64), primary_key=True),
    Column("scope_key", String(300), primary_key=True),
    Column("alarm_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("state", String(20), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("since", DateTime, nullable=False),
    Column("evaluated_at", DateTime, nullable=False),
    Column("last_notified_at", DateTime),
    Column("snoozed_pending", Boolean, nullable=False, default=False),
    Column("reason", Text),
)

# Every transition, and every notification per notifier with its outcome: 'pending' is written
# with the transition, in the same transaction, and becomes 'sent' or 'failed' after delivery
# ('snoozed' when snooze_until held it back). A row left 'pending' is a delivery that was lost.
alarm_history = Table(
    "alarm_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),  # the evaluation instant
    Column("recorded_at", DateTime, nullable=False),  # wall clock
    Column("rule", String(128), nullable=False),
    Column("condition", String(64), nullable=False),
    Column("scope_key", String(300), nullable=False),
    Column("alarm_id", String(36), nullable=False),
    Column("event", String(16), nullable=False),  # transition | notification
    Column("previous", String(20), nullable=False),
    Column("current", String(20), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("reason_data", JSON),
    Column("notifier", String(32)),
    Column("outcome", String(16)),  # pending | sent | failed | snoozed
    Column("attempts", Integer),
    Column("error", Text),
    Column("delivery", String(36), unique=True),
    Index(None, "rule", "at"),
    Index(None, "at"),
)

# One row per instant the alarm rules were evaluated (stackledger.pipeline.alarms), whatever the
# outcome: alarm_history keeps only changes, so without this a steady month (every alarm ok) looks
# the same as a month nobody evaluated. Project reports say which it was.
alarm_evaluations = Table(
    "alarm_evaluations",
    metadata,
    Column("at", DateTime, primary_key=True),  # the evaluation instant; re-running it adds nothing
    Column("rules", Integer, nullable=False),
    Column("alarms", Integer, nullable=False),  # alarms evaluated at `at`
    Column("recorded_at", DateTime, nullable=False),  # wall clock
)

# Report emails sent (stackledger.pipeline.deliveries), one row per recipient: `report --email`
# skips a recipient who already received the same documents (`digest`, the sha256 of the
# attachments) of that kind for the window, so a re-run or a retry sends nothing twice.
report_deliveries = Table(
    "report_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("window_label", String(100), nullable=False),  # Window.label: '2026-10'
    Column("kind", String(16), nullable=False),  # finance | team-lead
    Column("recipient", String(320), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("audience", String(512), nullable=False),  # 'finance', 'team data'
    Column("attachments", JSON, nullable=False),  # file names
    Column("message_id", String(255)),
    Column("sent_at", DateTime, nullable=False),
    Index(None, "window_label", "kind", "recipient"),
)
