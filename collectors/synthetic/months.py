"""Earlier months of the synthetic cloud: one fleet, each month from its own random stream.

`generate_months("2026-10", count=3)` (the package's) is August, September and October 2026,
oldest first. The last month is exactly `generate_cloud(month)`: its samples, totals and truth
do not depend on how many months come before it. Each earlier month is derived backwards from
the one after it (`month_before`), so the months tell one story:

- the same catalogue: projects (ids included), teams, budgets, users, flavors, volume types and
  the public image;
- the same fleet: every resource of the following month that already existed during this one —
  running instances, volumes, images, floating IPs, and those deleted later — with its id,
  lifetime and revisions. Resources created later are absent, so the fleet grows month by month
  towards the last one; a resize or extend happens in the month it happens in;
- the month's own short-lived resources (the spec's `brief` ones: CI runners, batch jobs,
  scratch volumes, a sandbox IP), created and deleted inside it. Their ids, times, hosts and
  traffic, the agents' timing, message ids and envelopes come from the month's own stream
  (`month_seed`), so no two months share a resource or message id;
- counters that run on without a jump: an instance's last reading of a month is its first
  reading of the next (`counters.counter_series`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace

from stackledger.collectors.synthetic.cloud import Resource, SyntheticCloud, _Builder
from stackledger.collectors.synthetic.spec import CloudSpec
from stackledger.window import Window


def month_seed(seed: int, month: str) -> int:
    """The seed of an earlier month's own stream (`month` as `YYYY-MM`)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{month}".encode()).digest()[:8], "big")


def month_before(following: SyntheticCloud, spec: CloudSpec, seed: int) -> SyntheticCloud:
    """The calendar month before `following`: its fleet as it was then, plus the month's own
    brief resources drawn from `month_seed(seed, month)` (module docstring)."""
    window = following.window.previous_month()
    stream = month_seed(seed, window.label)
    carried = tuple(r for r in following.resources if _existed(r, window))
    builder = _Builder(_brief_spec(spec, carried, window), window, random.Random(stream))
    resources = (*carried, *_brief_resources(builder, following, carried))
    return SyntheticCloud(
        window=window,
        seed=stream,
        poll_minutes=following.poll_minutes,
        region=following.region,
        currency=following.currency,
        projects=following.projects,
        resources=resources,
        volume_types=following.volume_types,
        public_image_id=following.public_image_id,
        hosts=following.hosts,
        by_id={r.resource_id: r for r in resources},
        next_month=following,
    )


def _existed(r: Resource, window: Window) -> bool:
    return r.started_at < window.end and (r.ended_at is None or r.ended_at > window.start)


def _brief_spec(spec: CloudSpec, carried: tuple[Resource, ...], window: Window) -> CloudSpec:
    """The spec's brief resources; a snapshot or backup only of a volume that exists all month."""
    whole_month = {r.name for r in carried if r.resource_type == "volume" and r.started_at <= window.start}
    return replace(
        spec,
        instances=tuple(s for s in spec.instances if s.lifecycle == "brief"),
        volumes=tuple(s for s in spec.volumes if s.lifecycle == "brief"),
        copies=tuple(s for s in spec.copies if s.lifecycle == "brief" and s.volume in whole_month),
        images=tuple(s for s in spec.images if s.lifecycle == "brief"),
        # Every IP is drawn and the others dropped (`_brief_resources`), so a brief IP keeps
        # the address its position in the spec gives, not one a running IP holds.
        floating_ips=spec.floating_ips,
    )


def _brief_resources(
    builder: _Builder, following: SyntheticCloud, carried: tuple[Resource, ...]
) -> tuple[Resource, ...]:
    """The builder's (brief) resources, attached to each other or to the carried fleet as the spec says."""
    projects = {p.name: p for p in following.projects}
    servers = [r for r in carried if r.resource_type == "instance"]
    instances = builder.instances(projects, following.public_image_id)
    volumes = builder.volumes(projects, following.volume_types, [*servers, *instances])
    copies = builder.copies([*(r for r in carried if r.resource_type == "volume"), *volumes])
    images = builder.images(projects)
    drawn = builder.floating_ips(projects, [*servers, *instances])
    ips = [ip for ip, s in zip(drawn, builder.spec.floating_ips, strict=True) if s.lifecycle == "brief"]
    return (*instances, *volumes, *copies, *images, *ips)


__all__ = ["month_before", "month_seed"]
