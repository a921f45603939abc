"""A realistic, deterministic, clearly synthetic OpenStack cloud for `stackledger demo` and tests.

    cloud = generate_cloud("2026-10", seed=4711)
    projects_frame(cloud)    # PROJECT_COLUMNS + source='synthetic' (Keystone's view)
    resources_frame(cloud)   # RESOURCE_COLUMNS, one row per revision (Nova/Cinder/Glance/Neutron's view)
    messages(cloud)          # iterator of Ceilometer messages, as they would arrive on Kafka
    expected_usage(cloud)    # the ground truth the pipeline should reproduce
    generate_months("2026-10", count=3)   # August to October: one fleet, the last month as above

The cloud: 12 projects in 3 teams (one project nested under another, tags `team:…`,
`cost-center:…`, `env:…`, `synthetic`), the m1.tiny … m1.xlarge flavors, volume types
`standard` and `ssd`, 27 instances (running all month, created, deleted, short-lived CI
runners, two resized mid-month, one hard-rebooted so its counters reset), 12 volumes (one
extended), 3 snapshots, 2 backups, 5 images and 7 floating IPs (one DOWN for some hours).

Polling: the compute and central agents poll every `poll_minutes`. The default is 60, an interval
some clouds use for billing meters. Ceilometer's own default is 5-10 minutes, but the readings
added by a shorter interval change no figure in the reports, and the demo must finish in under
a minute: at 60 minutes it makes about 100,000 samples, at 30 about 150,000. Nova and Cinder
audit hourly (`compute.instance.exists`, `volume.exists`, …) and notify every create, resize
and delete, so every hour a resource exists in has a reading whatever the interval.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from stackledger.collectors.synthetic.cloud import Project, Resource, SyntheticCloud, build_cloud
from stackledger.collectors.synthetic.messages import Message, messages
from stackledger.collectors.synthetic.months import month_before
from stackledger.collectors.synthetic.spec import DEFAULT_SPEC, CloudSpec
from stackledger.collectors.synthetic.truth import expected_usage
from stackledger.errors import ConfigError
from stackledger.schema import PROJECT_COLUMNS, RESOURCE_COLUMNS, validate_frame
from stackledger.window import Window

DEFAULT_SEED: Final = 4711
DEFAULT_POLL_MINUTES: Final = 60
SOURCE: Final = "synthetic"
SYNTHETIC_TAG: Final = "synthetic"


def generate_cloud(
    month: str = "2026-10",
    *,
    seed: int = DEFAULT_SEED,
    poll_minutes: int = DEFAULT_POLL_MINUTES,
    region: str = "RegionOne",
    currency: str = "EUR",
    spec: CloudSpec = DEFAULT_SPEC,
) -> SyntheticCloud:
    """The cloud for one calendar month. Same arguments, same cloud, same messages, byte for byte.

    `poll_minutes` must divide an hour, so every hour holds whole polling cycles. `currency` is
    the one project budgets are set in (use the rate card's).
    """
    if poll_minutes <= 0 or 60 % poll_minutes:
        raise ConfigError(f"poll_minutes must divide 60, got {poll_minutes}", key="poll_minutes")
    window = Window.month(month)
    return build_cloud(spec, window, seed=seed, poll_minutes=poll_minutes, region=region, currency=currency)


def generate_months(
    month: str = "2026-10",
    *,
    count: int = 3,
    seed: int = DEFAULT_SEED,
    poll_minutes: int = DEFAULT_POLL_MINUTES,
    region: str = "RegionOne",
    currency: str = "EUR",
    spec: CloudSpec = DEFAULT_SPEC,
) -> tuple[SyntheticCloud, ...]:
    """The `count` calendar months ending with `month`, oldest first. The last is exactly
    `generate_cloud(month, ...)`; each earlier one holds the fleet as it was then plus its own
    short-lived resources (`months`). Resources the months share are the same objects."""
    if count < 1:
        raise ConfigError(f"count must be at least 1, got {count}", key="count")
    clouds = [generate_cloud(month, seed=seed, poll_minutes=poll_minutes, region=region, currency=currency, spec=spec)]
    while len(clouds) < count:
        clouds.insert(0, month_before(clouds[0], spec, seed))
    return tuple(clouds)


def projects_frame(cloud: SyntheticCloud) -> pd.DataFrame:
    """Keystone's projects as canonical rows (PROJECT_COLUMNS) plus `source`."""
    rows = [_project_row(p, cloud.currency) for p in cloud.projects]
    frame = pd.DataFrame(rows, columns=[*PROJECT_COLUMNS, "source"], dtype=object)
    validate_frame(frame, PROJECT_COLUMNS, stage="synthetic projects")
    return frame


def _project_row(p: Project, currency: str) -> dict[str, object]:
    return {
        "project_id": p.project_id,
        "name": p.name,
        "domain_id": "default",
        "parent_id": p.parent_id,
        "tags": [f"team:{p.team}", f"cost-center:{p.cost_center}", f"env:{p.env}", SYNTHETIC_TAG],
        "team": p.team,
        "cost_center": p.cost_center,
        "budget_amount": p.budget,
        "budget_currency": currency,
        "budget_period": "month",
        "source": SOURCE,
    }


def resources_frame(cloud: SyntheticCloud) -> pd.DataFrame:
    """The inventory: one row per resource revision (a resize or extend gives two rows)."""
    rows = [row for r in cloud.resources for row in _revision_rows(r, cloud.region)]
    frame = pd.DataFrame(rows, columns=list(RESOURCE_COLUMNS)).astype(dict(RESOURCE_COLUMNS))
    return validate_frame(frame, RESOURCE_COLUMNS, stage="synthetic resources")


def _revision_rows(r: Resource, region: str) -> list[dict[str, object]]:
    ends = [rev.valid_from for rev in r.revisions[1:]] + [None]
    rows: list[dict[str, object]] = []
    for revision, valid_to in zip(r.revisions, ends, strict=True):
        flavor = revision.flavor
        rows.append(
            {
                "resource_id": r.resource_id,
                "resource_type": r.resource_type,
                "project_id": r.project.project_id,
                "name": r.name,
                "region": region,
                "flavor_name": flavor.name if flavor else None,
                "vcpus": float(flavor.vcpus) if flavor else None,
                "ram_mib": float(flavor.ram_mib) if flavor else None,
                "disk_gib": float(flavor.disk_gib) if flavor else None,
                "volume_type": r.volume_type.name if r.volume_type else None,
                "size_gib": revision.size_gib,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "valid_from": revision.valid_from,
                "valid_to": valid_to,
            }
        )
    return rows


__all__ = [
    "DEFAULT_POLL_MINUTES",
    "DEFAULT_SEED",
    "SOURCE",
    "Message",
    "SyntheticCloud",
    "expected_usage",
    "generate_cloud",
    "generate_months",
    "messages",
    "projects_frame",
    "resources_frame",
]
