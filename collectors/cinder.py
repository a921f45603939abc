"""Volumes, snapshots and backups from Cinder: their owners, sizes, types and lifetimes.

`CinderCollector(api, …).collect(window, scope)` returns resource revisions (RESOURCE_COLUMNS, source
"cinder", types volume / snapshot / backup) of everything of every project that existed during
the window, from `volumes/detail`, `snapshots/detail` and `backups/detail` with `all_tenants=1`
(page by page) and `types?is_public=None` (private types too). The listings are fetched once per
collector and reused for later windows of the same run.

- **Owner**: `os-vol-tenant-attr:tenant_id` (volumes), `os-extended-snapshot-attributes:project_id`
  (snapshots), `os-backup-project-attr:project_id` (backups — only from 3.18; below it a backup
  takes its volume's owner, and stays without one, logged, when that volume is gone).
- **Type**: `volume_type` is the type's NAME; from 3.63 `volume_type_id` comes too, and the types
  list maps ids to names, so a volume that carries only an id still gets its name. Snapshots and
  backups have no type of their own: they take their volume's (when it is still listed). The
  types themselves (id -> name) come back in `Collected.volume_types` and are stored: rating
  resolves the type ids Cinder's notifications put in samples through them.
- **Size**: `size`, GiB. **Lifetime**: `started_at` = `created_at` (naive µs, UTC). Cinder lists
  no deleted volumes, snapshots or backups, so `ended_at` is never known from the API: what was
  stored for a resource that has gone keeps its rows, and usage ends where its samples end.
- **Revisions**: an extend (size) or retype (type) of a volume already stored closes its latest
  revision and opens one at `updated_at` — the time of the volume's latest change of any kind,
  so at or after the real one (`collectors.revisions.revisions`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from stackledger.collectors.base import EVERY_PROJECT, Collected, Failure, History, Scope
from stackledger.collectors.openstack_api import Api, connect, naive_utc, negotiate, region_of
from stackledger.collectors.revisions import Observed, lifetime_overlaps, resource_frame, revisions
from stackledger.errors import SourceError
from stackledger.settings import Settings
from stackledger.window import Window

log = logging.getLogger(__name__)

NAME: Final = "cinder"
TYPE_ID_VERSION: Final = "3.63"  # volumes carry volume_type_id
BACKUP_OWNER_VERSION: Final = "3.18"  # backups carry os-backup-project-attr:project_id
# kind -> (path, response key, owner field)
KINDS: Final = {
    "volume": ("/volumes/detail", "volumes", "os-vol-tenant-attr:tenant_id"),
    "snapshot": ("/snapshots/detail", "snapshots", "os-extended-snapshot-attributes:project_id"),
    "backup": ("/backups/detail", "backups", "os-backup-project-attr:project_id"),
}


class CinderCollector:
    """Volume, snapshot and backup revisions from Cinder (module docstring)."""

    name = NAME

    def __init__(self, api: Api, *, region: str | None, history: History | None = None) -> None:
        self.api = api
        self.region = region
        self.history = history
        self.refresh()

    def refresh(self) -> None:
        """Forget the listings fetched so far: the next window lists everything again."""
        self._listed: dict[str, list[dict[str, Any]]] = {}
        self._types: dict[str, str] | None = None

    def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
        """Every project's resources: the listings cannot be narrowed by project (the pipeline keeps `scope`'s)."""
        before = self.api.requests
        failures = self._list()
        try:
            observed = [o for o in self.observe_all() if o.first_from < window.end] if not failures else []
        except SourceError as error:  # an answer we cannot read
            failures.append(Failure("block storage", str(error), transient=error.transient))
        if failures:
            return Collected(failures=failures, requests=self.api.requests - before)
        stored = self.history([o.resource_id for o in observed]) if self.history and observed else {}
        rows: list[dict[str, Any]] = []
        for item in observed:
            revs = revisions(item, stored.get(item.resource_id, ()))
            if lifetime_overlaps(revs, window.start, window.end):
                rows.extend(revs)
        rows.sort(key=lambda row: (row["resource_type"], row["resource_id"], row["valid_from"]))
        frame = resource_frame(rows)
        counts = frame.drop_duplicates("resource_id")["resource_type"].value_counts().to_dict()
        summary = ", ".join(f"{counts.get(kind, 0)} {kind}s" for kind in KINDS)
        log.info("cinder %s: %s, %d revisions, %d volume types (volume %s)", window.label, summary, len(frame),
                 len(self._types or {}), self.api.microversion)  # fmt: skip
        return Collected(resources=frame, requests=self.api.requests - before, volume_types=dict(self._types or {}))

    def _list(self) -> list[Failure]:
        failures = []
        if self._types is None:
            try:
                types = self.api.collect("/types", "volume_types", {"is_public": "None"}, paged=False)
                self._types = {str(t["id"]): str(t["name"]) for t in types}
            except SourceError as error:
                failures.append(Failure("volume types", str(error), transient=error.transient))
        for kind, (path, key, _owner) in KINDS.items():
            if kind in self._listed:
                continue
            try:
                self._listed[kind] = self.api.collect(path, key, {"all_tenants": "1"})
            except SourceError as error:
                failures.append(Failure(f"{kind}s", str(error), transient=error.transient))
        return failures

    def observe_all(self) -> list[Observed]:
        """Everything listed, in canonical terms (call after a successful `_list`)."""
        volumes = {str(v["id"]): v for v in self._listed.get("volume", [])}
        observed = [self._observe("volume", v, volumes) for v in volumes.values()]
        observed += [self._observe("snapshot", s, volumes) for s in self._listed.get("snapshot", [])]
        observed += [self._observe("backup", b, volumes) for b in self._listed.get("backup", [])]
        return observed

    def _observe(self, kind: str, item: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]]) -> Observed:
        created = naive_utc(item.get("created_at"))
        if created is None:
            raise SourceError(f"{kind} {item.get('id')} has no created_at", source=NAME)
        source = volumes.get(str(item.get("volume_id"))) if kind != "volume" else item
        return Observed(
            resource_id=str(item["id"]),
            resource_type=kind,
            project_id=self._owner(kind, item, source),
            name=item.get("name"),
            region=self.region,
            attributes={"volume_type": self._type_name(source) if source else None, "size_gib": _gib(item.get("size"))},
            identity=("size_gib", "volume_type") if kind == "volume" else ("size_gib",),
            started_at=created,
            ended_at=None,
            first_from=created,
            changed_at=(naive_utc(item.get("updated_at")),),
        )

    def _owner(self, kind: str, item: Mapping[str, Any], volume: Mapping[str, Any] | None) -> str | None:
        owner = item.get(KINDS[kind][2])
        if owner:
            return str(owner)
        if kind == "backup" and volume is not None:  # below 3.18 a backup does not name its owner
            return str(volume.get(KINDS["volume"][2]) or "") or None
        gone = " and its volume is no longer listed" if kind == "backup" else ""
        log.warning("cinder: %s %s (%s) names no owner%s", kind, item.get("id"), item.get("name"), gone)
        return None

    def _type_name(self, volume: Mapping[str, Any]) -> str | None:
        """The volume type's name: `volume_type` is the name; from 3.63 `volume_type_id` maps to it too."""
        name = volume.get("volume_type")
        type_id = volume.get("volume_type_id")
        by_id = (self._types or {}).get(str(type_id)) if type_id else None
        if name and by_id and by_id != name:
            log.warning("cinder: volume %s: type %r but type id %s is %r; using the name", volume.get("id"), name,
                        type_id, by_id)  # fmt: skip
        return str(name) if name else by_id


def _gib(value: Any) -> float | None:
    return None if value is None else float(value)


def api_from_settings(settings: Settings) -> Api:
    """The block-storage API of `openstack.cloud` at the negotiated microversion."""
    config = settings.openstack
    conn = connect(config)
    version = negotiate(conn.block_storage, config.cinder_microversion, key="openstack.cinder_microversion")
    return Api(conn.block_storage, microversion=version, page_size=config.page_size, retries=config.retries,
               backoff_s=config.backoff_s)  # fmt: skip


def from_settings(settings: Settings, history: History) -> CinderCollector:
    """The registry's factory (`stackledger.pipeline.collect.COLLECTORS`); `history` is what
    "cinder" stored before (the pipeline reads it from the store)."""
    api = api_from_settings(settings)
    return CinderCollector(
        api,
        region=region_of(api.proxy, settings.openstack, settings.usage.region),
        history=history,
    )


__all__ = ["NAME", "TYPE_ID_VERSION", "CinderCollector", "api_from_settings", "from_settings"]
