"""Which instance a network interface belongs to, for the reports (issue 15 point 4).

Ceilometer meters an instance's traffic on its virtual interface: the samples' `resource_id` is
the interface (`instance-0000002a-<uuid>-tap…`), their `resource_metadata.instance_id` the
instance, and `display_name` the instance's name. `interface_instances(target, ids, window)`
answers `{interface id: Interface(instance_id, instance_name, name)}` for the ids that are such
interfaces; an id whose samples name no other instance is not one.

Today it reads the stored samples' metadata (bounded by `window` and the network meters) and
takes the instance's name from the inventory when it is there (the latest revision), else from
the samples. When attribute revisions are stored (`resource_revisions`, docs/dev/SCALE.md §3:
`instance_id` and `display_name` per revision) this reads them instead; the contract stays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, select

from stackledger.schema import METERS
from stackledger.store import Store, tables
from stackledger.store.frames import reading
from stackledger.window import Window

# The meters metered on an interface (traffic); ip.floating is the address, its own resource.
NETWORK_METERS: Final = tuple(sorted(
    name for name, meter in METERS.items() if meter.service in ("network.egress", "network.ingress")
))  # fmt: skip
_IN_CHUNK: Final = 500  # values per `IN (...)`: well under every driver's parameter limit


class Interface(NamedTuple):
    instance_id: str
    instance_name: str | None  # the inventory's name, else the samples' display_name; None: unknown
    name: str | None  # the interface's own name (`vnic_name`, e.g. tap1a2b3c4d-5e), when the samples say it


def interface_instances(
    target: Store | Connection, resource_ids: Sequence[str], window: Window | None = None
) -> dict[str, Interface]:
    """`{interface id: Interface}` for those of `resource_ids` whose network samples (starting in
    `window`, when given) name an instance other than themselves; the latest sample wins."""
    s = tables.samples.c
    meta = s["metadata"]
    found: dict[str, tuple[str, str | None, str | None]] = {}
    with reading(target) as conn:
        for chunk in _chunks(sorted(set(resource_ids))):
            said = (meta["instance_id"].as_string(), meta["display_name"].as_string(), meta["vnic_name"].as_string())
            query = select(s.resource_id, *said).where(s.resource_id.in_(chunk), s.meter.in_(NETWORK_METERS))
            if window is not None:
                query = query.where(s.timestamp >= window.start, s.timestamp < window.end)
            for resource_id, instance_id, display_name, vnic in conn.execute(query.order_by(s.timestamp)):
                if instance_id and instance_id != resource_id:
                    found[resource_id] = (instance_id, display_name or None, vnic or None)
        names = _inventory_names(conn, sorted({instance for instance, _, _ in found.values()}))
    return {
        interface: Interface(instance, names.get(instance) or display, vnic)
        for interface, (instance, display, vnic) in sorted(found.items())
    }


def _inventory_names(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> the name of its latest inventory revision (any source) that has one."""
    r = tables.resources.c
    names: dict[str, str] = {}
    for chunk in _chunks(ids):
        query = select(r.resource_id, r.name).where(r.resource_id.in_(chunk), r.name.is_not(None))
        for resource_id, name in conn.execute(query.order_by(r.valid_from)):
            names[resource_id] = name
    return names


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


__all__ = ["NETWORK_METERS", "Interface", "interface_instances"]
