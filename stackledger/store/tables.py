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
    String,
    Table,
    Text,
    UniqueConstraint,
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

samples = Table(
    "samples",
    metadata,
    Column("message_id", ID, primary_key=True),
    Column("meter", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("unit", String(32), nullable=False),
    Column("volume", Float, nullable=False),
    Column("project_id", ID),
    Column("user_id", ID),
    Column("resource_id", ID, nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("metadata", JSON),
    Column("source", String(255)),
    Column("ingested_at", DateTime, nullable=False),
    # One index besides the key: each costs every ingested sample a B-tree insert, and reads select
    # by time (usage takes every known meter of a window). Migration 0005 dropped (meter, timestamp).
    Index(None, "timestamp"),
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
