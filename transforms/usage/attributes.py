"""Rating attributes (flavor_name, vcpus, ram_mib, volume_type), region and project of each
usage row: from the inventory revision in force, the gaps filled from the attribute revisions
the samples' statements built (`revisions`), in force at the row's describing reading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import INSTANCE, SERVICE_TYPE
from stackledger.transforms.usage.lookup import in_force

if TYPE_CHECKING:
    from stackledger.transforms.usage.inventory import Inventory

# The resource types each rating attribute describes; it stays empty on the others.
ATTRIBUTE_TYPES: Final = {
    "flavor_name": frozenset({"instance"}),
    "vcpus": frozenset({"instance"}),
    "ram_mib": frozenset({"instance"}),
    "volume_type": frozenset({"volume", "snapshot", "backup"}),
}
_READ: Final = ("flavor_name", "vcpus", "ram_mib", "volume_type", "volume_type_id")


class Described:
    """What the samples said about their resources (revisions.REVISION_COLUMNS, in the readings'
    resource codes), read as the rating attributes in force at given instants."""

    def __init__(self, revisions: pd.DataFrame) -> None:
        ordered = revisions.sort_values(["rcode", "valid_from"], kind="stable")
        self.rcode = ordered["rcode"].to_numpy(dtype=np.int64)
        self.valid_from = ordered["valid_from"].to_numpy(dtype=np.int64)
        self.columns = {
            name: ordered[name].to_numpy(dtype=float if name in ("vcpus", "ram_mib") else object) for name in _READ
        }

    def at(self, rcode: np.ndarray, t: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The named attributes in force for each (resource, instant): None / NaN where nothing
        was said. `volume_type` is the type's name, or its id when only the id was said."""
        index = in_force(self.rcode, self.valid_from, rcode, t)
        out = {}
        for name in names:
            values = take(self.columns[name], index)
            if name == "volume_type":
                by_id = take(self.columns["volume_type_id"], index)
                unnamed = pd.isna(values)
                values[unnamed] = by_id[unnamed]
            out[name] = values
        return out


def attributes(
    rows: pd.DataFrame,
    rcode: np.ndarray,
    hour: np.ndarray,
    service: np.ndarray,
    sample_row: np.ndarray,
    inventory: Inventory,
    described: Described,
    stamps: np.ndarray,
) -> tuple[dict[str, np.ndarray], bool]:
    """Each row's rating attributes, region and project from its inventory revision, the gaps
    filled from what the samples said (`described`, at the time `stamps[row]` of the row's
    describing reading). Also says whether an inventory split took its flavor from the samples
    (and so may now share its key with a sibling)."""
    split = rows["rev"].fillna(-1).to_numpy().astype(np.int64) if "rev" in rows else np.full(len(rows), -1)
    rev = split.copy()
    asof = rev < 0
    rev[asof] = inventory.revision_at(rcode[asof], rows["t"].to_numpy().astype(np.int64)[asof])
    found = {name: take(values, rev) for name, values in inventory.attributes.items()}
    missing = {name: take(values, rev, fill=True) for name, values in inventory.missing.items()}
    given = np.zeros(len(rows), dtype=bool)
    if "flavor_name" in rows:  # instance-hours split by the samples' flavors
        given = rows["flavor_name"].notna().to_numpy()
        found["flavor_name"][given] = rows["flavor_name"].to_numpy(dtype=object)[given]
        missing["flavor_name"][given] = False
    resource_type = SERVICE_TYPE[service]
    relevant = {name: np.isin(resource_type, list(types)) for name, types in ATTRIBUTE_TYPES.items()}
    need = {name: relevant[name] & missing[name] for name in ATTRIBUTE_TYPES}
    if any(mask.any() for mask in need.values()):
        describing = _describing_rows(rcode, hour, service, sample_row, given)
        _fill_from_samples(found, need, rcode, stamps[describing], described)
    for name, mask in relevant.items():
        found[name][~mask] = None
    found["region_missing"] = missing["region"]
    return found, bool((need["flavor_name"] & (split >= 0)).any())


def _describing_rows(
    rcode: np.ndarray, hour: np.ndarray, service: np.ndarray, own: np.ndarray, split: np.ndarray
) -> np.ndarray:
    """The reading that describes each row: for instance-type services the hour's last presence
    reading when there is one (one lookup serves all its rows), else the row's own; an
    instance-hour split by the samples' flavors is described by its own flavor's last reading,
    so each part of a resize hour carries its own flavor's vCPUs and RAM."""
    instance = service == INSTANCE
    key = (rcode << 32) | (hour - hour.min())
    reference = pd.Series(own[instance], index=key[instance])
    reference = reference[~reference.index.duplicated(keep="last")]
    found = reference.reindex(key).to_numpy(dtype=float)
    use = (SERVICE_TYPE[service] == "instance") & ~np.isnan(found) & ~split
    return np.where(use, np.nan_to_num(found).astype(np.int64), own)


def _fill_from_samples(
    attributes: dict[str, np.ndarray], need: dict[str, np.ndarray], rcode: np.ndarray, t: np.ndarray,
    described: Described,
) -> None:  # fmt: skip
    """Fill the attributes in `need` from what the samples said at each row's describing instant."""
    any_need = np.logical_or.reduce(list(need.values()))
    names = tuple(name for name, mask in need.items() if mask.any())
    found = described.at(rcode[any_need], t[any_need], names)
    for name, values in found.items():
        attributes[name][need[name]] = values[need[name][any_need]]


def take(values: np.ndarray, index: np.ndarray, fill: object = None) -> np.ndarray:
    """values[index], `fill` where index is -1 (None for objects, NaN for floats by default)."""
    if fill is None and values.dtype != object:
        fill = np.nan
    out = np.full(len(index), fill, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out
