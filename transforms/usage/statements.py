"""What one sample says about its resource: the attributes rating and reports need, read from
every shape of `resource_metadata` Ceilometer emits, plus the sample's project.

A statement holds only what its sample states. An attribute the sample does not mention is
*absent* (None, or NaN for numbers), not "unknown": a polled instance sample carries the flavor
dict, `vcpus` and `memory_mb`; the `vcpus` notification sample of the same instance carries only
`flavor_name`. Neither contradicts the other (`revisions` keeps both).

Shapes read (the first key present, not null and not "", wins; dotted keys look inside dicts):

| attribute | keys | who sends it |
|---|---|---|
| flavor_name | `flavor_name`, `instance_type`, `flavor.name`, `flavor.original_name` | notification meters |
| | | (meters.yaml `instance_meta`), polled instances (pollsters/util.py), Nova ≥ 2.47 flavors |
| vcpus | `vcpus`, `flavor.vcpus` | polled instances, legacy `compute.instance.*` payloads |
| ram_mib | `memory_mb`, `flavor.ram` | idem (MiB) |
| volume_type | `volume_type` when it is a name | Cinder API, Gnocchi's volume type |
| volume_type_id | `volume_type_id`; `volume_type` when it is an id | Cinder notifications (meters.yaml: both are |
| | | the payload's type *id*) |
| instance_id | `instance_id` | network interfaces, disks, attached volumes |
| status | `status`, `state` (lower-cased) | polled instances (`status`), floating IPs, legacy payloads (`state`) |
| display_name | `display_name`, `name` | instances, volumes, snapshots, backups (`display_name`), images (`name`) |
| project_id | the sample's own `project_id` | every sample (None: Ceilometer could not attribute it) |

A `vcpus` or `memory` sample also states vcpus / ram_mib by its volume (a whole number; it
wins over its metadata): Nova's notifications carry the sizes only there, and a resize's
`resize_finish` samples are the first to state the new flavor — with its sizes, at one instant.

`volume_type` is an id when it equals `volume_type_id` or reads as a UUID; a cloud whose type
*names* look like UUIDs gets them as ids. Numbers come as ints, floats or numeric strings
("2"); anything else (a bool, a dict, "abc") states nothing. Text comes as strings, or as
numbers written as text (a flavor named 42); dicts and lists state nothing.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

TEXT: Final = ("flavor_name", "volume_type", "volume_type_id", "instance_id", "status", "display_name", "project_id")
NUMBERS: Final = ("vcpus", "ram_mib")
# The order of a statement's values (and of a revision's attribute columns).
ATTRIBUTES: Final = ("flavor_name", "vcpus", "ram_mib", "volume_type", "volume_type_id", "instance_id", "status",
                     "display_name", "project_id")  # fmt: skip

_FLAVOR_NAME: Final = ("flavor_name", "instance_type", "flavor.name", "flavor.original_name")
_VCPUS: Final = ("vcpus", "flavor.vcpus")
_RAM: Final = ("memory_mb", "flavor.ram")
_STATUS: Final = ("status", "state")
_DISPLAY_NAME: Final = ("display_name", "name")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")

Statement = tuple[Any, ...]  # values in ATTRIBUTES order


# Meters whose volume is an attribute of the instance (meters.yaml: `$.payload.vcpus`, `$.payload.memory_mb`).
SIZE_METERS: Final = {"vcpus": 1, "memory": 2}  # meter -> index in ATTRIBUTES


def statement(metadata: object, project_id: object = None, meter: object = None, volume: float = math.nan) -> Statement:
    """One sample's statement: its attributes in ATTRIBUTES order, None/NaN where not stated."""
    return restate(described(metadata), project_id, meter, volume)


def described(metadata: object) -> Statement:
    """What a `resource_metadata` alone states (no project): the part of a statement samples with
    the same metadata share, so ingest reads each distinct metadata once (`restate` adds the rest)."""
    meta: Mapping[str, Any] = metadata if isinstance(metadata, dict) else {}
    type_name = _text(meta.get("volume_type"))
    type_id = _text(meta.get("volume_type_id"))
    if type_name is not None and (type_name == type_id or _UUID.fullmatch(type_name)):
        type_id = type_id or type_name
        type_name = None
    status = _text(_first(meta, _STATUS))
    return (
        _text(_first(meta, _FLAVOR_NAME)),
        _number(_first(meta, _VCPUS)),
        _number(_first(meta, _RAM)),
        type_name,
        type_id,
        _text(meta.get("instance_id")),
        status.lower() if status is not None else None,
        _text(_first(meta, _DISPLAY_NAME)),
        None,
    )


def restate(base: Statement, project_id: object = None, meter: object = None, volume: float = math.nan) -> Statement:
    """`base` (what the metadata states) with the sample's own project and, for a `vcpus` or
    `memory` sample, the size its volume states (a whole number above 0 wins over the metadata)."""
    project = project_id if isinstance(project_id, str) and project_id else None
    measured = SIZE_METERS.get(meter) if isinstance(meter, str) else None
    if measured is not None and volume > 0 and float(volume).is_integer():
        sized = list(base)
        sized[measured] = float(volume)
        sized[-1] = project
        return tuple(sized)
    if project is None and base[-1] is None:
        return base
    return (*base[:-1], project)


def columns(rows: list[Statement]) -> dict[str, np.ndarray]:
    """Statement tuples as one array per attribute."""
    table = np.empty((len(rows), len(ATTRIBUTES)), dtype=object)
    if rows:
        table[:] = rows
    return {
        name: table[:, n].astype(float) if name in NUMBERS else table[:, n].copy() for n, name in enumerate(ATTRIBUTES)
    }


def _first(meta: Mapping[str, Any], keys: tuple[str, ...]) -> object:
    """The first of `keys` present in `meta` and neither null nor ""; dotted keys walk nested dicts."""
    for key in keys:
        node: object = meta.get(key)
        if node is None and "." in key:
            node = meta
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
        if node is not None and node != "":
            return node
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    return None


def _number(value: object) -> float:
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return math.nan
    else:
        return math.nan
    return number if math.isfinite(number) else math.nan


__all__ = ["ATTRIBUTES", "NUMBERS", "SIZE_METERS", "TEXT", "Statement", "columns", "described", "restate", "statement"]
