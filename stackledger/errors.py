"""The StackLedger error hierarchy.

    StackLedgerError
    ├── ConfigError        bad settings, rate card, rule or price file (terminal)
    ├── InputError         one bad input record: names where it came from and why (terminal)
    ├── SchemaError        a frame that does not match the canonical schema (terminal, a bug)
    ├── PricingError       usage with no price: names the service and SKU (terminal)
    ├── StoreError         the database refused or is not migrated (terminal)
    └── SourceError        a collector's source failed (terminal unless `transient`)
        └── TransientSourceError   timeouts, 5xx, broker unavailable: worth retrying

Retry logic asks `error.transient`, never the message text.
"""

from __future__ import annotations


class StackLedgerError(Exception):
    """Base class; `transient` tells callers whether a retry may succeed."""

    transient: bool = False


class ConfigError(StackLedgerError):
    """A configuration file or value is wrong. Names the file, key and what was expected."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ", ".join(part for part in (file and f"file {file}", key and f"key {key}") if part)
        super().__init__(f"{where}: {message}" if where else message)


class InputError(StackLedgerError):
    """One input record is unusable. `where` is e.g. 'samples.jsonl line 12'."""

    def __init__(self, reason: str, *, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)


class SchemaError(StackLedgerError):
    """A frame crossing a stage boundary lacks columns or has the wrong types."""


class PricingError(StackLedgerError):
    """Usage that no price covers. Never priced as a silent zero."""

    def __init__(self, message: str, *, service: str | None = None, sku: str | None = None) -> None:
        self.service = service
        self.sku = sku
        super().__init__(message)


class StoreError(StackLedgerError):
    """The store cannot be used as asked (not migrated, constraint broken)."""


class SourceError(StackLedgerError):
    """A collector's source failed for a window, meter or project."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class TransientSourceError(SourceError):
    """A failure that a later retry may not see (timeouts, 5xx, broker not available)."""

    transient = True
