"""Which instance a network interface belongs to, for the reports (issue 15 point 4).

Ceilometer meters an instance's traffic on its virtual interface: the samples' `resource_id` is
the interface (`instance-0000002a-<uuid>-tap…`), their `resource_metadata.instance_id` the
instance, and `display_name` the instance's name. `interface_instances(target, ids, window)`
answers `{interface id: Interface(instance_id, instance_name, name)}` for the ids that are such
interfaces; an id whose samples name no other instance is not one.

It reads what ingest kept of the samples' metadata: the resources' attribute revisions
(`resource_revisions`: `instance_id` and `display_name`, docs/dev/SCALE.md §3), the latest one in
force in `window` that names an instance, and takes the instance's name from the inventory when
it is there (the latest revision), else from the revisions. The interface's own name (the
samples' `vnic_name`) is not kept: `name` is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from sqlalchemy import Connection, select

from stackledger.schema import METERS
from stackledger.store import Store, tables
from stackledger.store.bulk import chunks
from stackledger.store.frames import reading
from stackledger.window import Window

# The meters metered on an interface (traffic); ip.floating is the address, its own resource.
NETWORK_METERS: Final = tuple(sorted(
    name for name, meter in METERS.items() if meter.service in ("network.egress", "network.ingress")
))  # fmt: skip


class Interface(NamedTuple):
    instance_id: str
    instance_name: str | None  # the inventory's name, else the samples' display_name; None: unknown
    name: str | None  # the interface's own name (`vnic_name`): not kept by the compact store, None


def interface_instances(
    target: Store | Connection, resource_ids: Sequence[str], window: Window | None = None
) -> dict[str, Interface]:
    """`{interface id: Interface}` for those of `resource_ids` whose attribute revisions (in force
    in `window`, when given) name an instance other than themselves; the latest revision wins."""
    codes, revisions = tables.sample_resources.c, tables.resource_revisions.c
    found: dict[str, tuple[str, str | None]] = {}
    with reading(target) as conn:
        for chunk in chunks(sorted(set(resource_ids))):
            query = (
                select(codes.resource_id, revisions.instance_id, revisions.display_name)
                .join(tables.resource_revisions, revisions.resource == codes.code)
                .where(codes.resource_id.in_(chunk), revisions.instance_id.is_not(None))
            )
            if window is not None:
                query = query.where(revisions.valid_from < window.end, revisions.valid_to > window.start)
            for resource_id, instance_id, display_name in conn.execute(query.order_by(revisions.valid_from)):
                if instance_id and instance_id != resource_id:
                    found[resource_id] = (instance_id, display_name or None)
        names = _inventory_names(conn, sorted({instance for instance, _ in found.values()}))
    return {
        interface: Interface(instance, names.get(instance) or display, None)
        for interface, (instance, display) in sorted(found.items())
    }


def _inventory_names(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> the name of its latest inventory revision (any source) that has one."""
    r = tables.resources.c
    names: dict[str, str] = {}
    for chunk in chunks(ids):
        query = select(r.resource_id, r.name).where(r.resource_id.in_(chunk), r.name.is_not(None))
        for resource_id, name in conn.execute(query.order_by(r.valid_from)):
            names[resource_id] = name
    return names


__all__ = ["NETWORK_METERS", "Interface", "interface_instances"]
