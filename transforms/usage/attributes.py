"""Rating attributes (flavor_name, vcpus, ram_mib, volume_type), region and project of each
usage row: from the inventory revision in force, the gaps filled from sample metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import INSTANCE, SERVICE_TYPE

if TYPE_CHECKING:
    from stackledger.transforms.usage.inventory import Inventory

# Where a sample's resource_metadata carries a rating attribute; the first key present wins.
# Polled instance metadata has instance_type, vcpus, memory_mb and a flavor dict; notification
# meters carry flavor_name / instance_type. Dotted keys look inside nested dicts.
METADATA_KEYS: Final = {
    "flavor_name": ("flavor_name", "instance_type", "flavor.name"),
    "vcpus": ("vcpus", "flavor.vcpus"),
    "ram_mib": ("memory_mb", "flavor.ram"),
    "volume_type": ("volume_type",),
}
# The resource types each rating attribute describes; it stays empty on the others.
ATTRIBUTE_TYPES: Final = {
    "flavor_name": frozenset({"instance"}),
    "vcpus": frozenset({"instance"}),
    "ram_mib": frozenset({"instance"}),
    "volume_type": frozenset({"volume", "snapshot", "backup"}),
}


def attributes(
    rows: pd.DataFrame,
    rcode: np.ndarray,
    hour: np.ndarray,
    service: np.ndarray,
    sample_row: np.ndarray,
    inventory: Inventory,
    metadata: np.ndarray,
) -> tuple[dict[str, np.ndarray], bool]:
    """Each row's rating attributes, region and project from its inventory revision, the
    gaps filled from sample metadata. Also says whether an inventory split took its flavor
    from metadata (and so may now share its key with a sibling)."""
    split = rows["rev"].fillna(-1).to_numpy().astype(np.int64) if "rev" in rows else np.full(len(rows), -1)
    rev = split.copy()
    asof = rev < 0
    rev[asof] = inventory.revision_at(rcode[asof], rows["t"].to_numpy().astype(np.int64)[asof])
    found = {name: take(values, rev) for name, values in inventory.attributes.items()}
    missing = {name: take(values, rev, fill=True) for name, values in inventory.missing.items()}
    if "flavor_name" in rows:  # instance-hours split by metadata flavor
        given = rows["flavor_name"].notna().to_numpy()
        found["flavor_name"][given] = rows["flavor_name"].to_numpy(dtype=object)[given]
        missing["flavor_name"][given] = False
    resource_type = SERVICE_TYPE[service]
    relevant = {name: np.isin(resource_type, list(types)) for name, types in ATTRIBUTE_TYPES.items()}
    need = {name: relevant[name] & missing[name] for name in ATTRIBUTE_TYPES}
    if any(mask.any() for mask in need.values()):
        _fill_from_metadata(found, need, _metadata_rows(rcode, hour, service, sample_row), metadata)
    for name, mask in relevant.items():
        found[name][~mask] = None
    found["region_missing"] = missing["region"]
    return found, bool((need["flavor_name"] & (split >= 0)).any())


def _metadata_rows(rcode: np.ndarray, hour: np.ndarray, service: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The sample whose metadata describes each row: for instance-type services the hour's
    last presence reading when there is one (one lookup serves all its rows), else the row's own."""
    instance = service == INSTANCE
    key = (rcode << 32) | (hour - hour.min())
    reference = pd.Series(own[instance], index=key[instance])
    reference = reference[~reference.index.duplicated(keep="last")]
    found = reference.reindex(key).to_numpy(dtype=float)
    use = (SERVICE_TYPE[service] == "instance") & ~np.isnan(found)
    return np.where(use, np.nan_to_num(found).astype(np.int64), own)


def _fill_from_metadata(
    attributes: dict[str, np.ndarray], need: dict[str, np.ndarray], rows: np.ndarray, metadata: np.ndarray
) -> None:
    """Fill the attributes in `need` from sample metadata, reading each sample once."""
    any_need = np.logical_or.reduce(list(need.values()))
    unique, inverse = np.unique(rows[any_need], return_inverse=True)
    found = from_metadata(metadata, unique, tuple(name for name, mask in need.items() if mask.any()))
    for name, values in found.items():
        if attributes[name].dtype != object:  # metadata may say "2"; what is not a number stays unknown
            values = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
        attributes[name][need[name]] = values[inverse[need[name][any_need]]]


def from_metadata(metadata: np.ndarray, rows: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named attributes from each referenced sample's metadata (None where absent)."""
    keys = [(name, METADATA_KEYS[name]) for name in names]
    values = [[_lookup(metadata[i], candidates) for name, candidates in keys] for i in rows]
    table = np.array(values, dtype=object).reshape(len(rows), len(keys))
    return {name: table[:, n] for n, (name, _) in enumerate(keys)}


def _lookup(meta: object, keys: tuple[str, ...]) -> object:
    if not isinstance(meta, dict):  # JSON objects decode to dicts; anything else carries nothing
        return None
    for key in keys:
        node: object = meta.get(key)
        if node is None and "." in key:
            node = meta
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
        if node not in (None, ""):
            return node
    return None


def take(values: np.ndarray, index: np.ndarray, fill: object = None) -> np.ndarray:
    """values[index], `fill` where index is -1 (None for objects, NaN for floats by default)."""
    if fill is None and values.dtype != object:
        fill = np.nan
    out = np.full(len(index), fill, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out
