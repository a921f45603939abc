"""Timestamps in the shapes the real APIs use (SUMMARY.md: each API has its own format).

Internally every time is an aware UTC datetime; formatting happens only at the response edge.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Nova's simple-tenant-usage accepts exactly these (nova/api/.../simple_tenant_usage.py): no zone,
# no "Z", and the space form only with a fraction. Anything else is a 400, like upstream.
USAGE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_ts(value: str) -> datetime:
    """ISO 8601 with Z, an offset, or nothing (taken as UTC) -> aware UTC. Raises ValueError."""
    dt = datetime.fromisoformat(value.strip())
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_usage_ts(value: str) -> datetime:
    for fmt in USAGE_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError("Datetime is in invalid format")


def iso_z(dt: datetime | None) -> str | None:
    """Nova `created`/`updated`: second precision with Z (nova.utils.isotime)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def naive_us(dt: datetime | None) -> str | None:
    """Nova OS-SRV-USG, usage, and all of Cinder: naive UTC, always microseconds (oslo jsonutils)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") if dt else None
