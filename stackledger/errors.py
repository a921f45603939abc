"""The StackLedger error hierarchy.

    StackLedgerError
    ├── ConfigError        bad settings, rate card, rule or price file (terminal)
    ├── InputError         one bad input record: names where it came from and why (terminal)
    ├── SchemaError        a frame that does not match the canonical schema (terminal, a bug)
    ├── PricingError       usage with no price: names the service and SKU (terminal)
    ├── StoreError         the database refused or is not migrated (terminal)
    │   └── StoreUnavailable       cannot connect: names host:port and database, never credentials (transient)
    └── SourceError        a collector's source failed (terminal unless `transient`)
        └── TransientSourceError   timeouts, 5xx, broker unavailable: worth retrying

Retry logic asks `error.transient`, never the message text. Messages are one line that names the
thing (file and key, environment variable, database host:port, topic and brokers, URL without its
userinfo) and what to do; they never hold a secret (`stackledger.redact` is the safety net).
"""

from __future__ import annotations


class StackLedgerError(Exception):
    """Base class; `transient` tells callers whether a retry may succeed."""

    transient: bool = False


class ConfigError(StackLedgerError):
    """A configuration file or value is wrong. Names where the value came from — the environment
    variable `env`, else the `file` — the `key`, and what was expected."""

    def __init__(
        self, message: str, *, file: str | None = None, key: str | None = None, env: str | None = None
    ) -> None:
        self.reason = message
        self.file = file
        self.key = key
        self.env = env
        label = "option" if key and key.startswith("-") else "key"  # a command-line option: `option --out`
        parts = (env and f"environment variable {env}", file and f"file {file}", key and f"{label} {key}")
        where = ", ".join(part for part in parts if part)
        super().__init__(f"{where}: {message}" if where else message)

    @classmethod
    def invalid_yaml(cls, error: Exception, *, file: str) -> ConfigError:
        """`not valid YAML at line L, column C: PROBLEM` for a PyYAML error. Never PyYAML's own
        text: it quotes the offending line, which may hold a password."""
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or getattr(error, "context", None) or type(error).__name__
        return cls(f"not valid YAML{where}: {problem}", file=file)


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


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened. The message names its host, port and database
    (or SQLite file), never the credentials; a later try may succeed."""

    transient = True


class SourceError(StackLedgerError):
    """A collector's source failed for a window, meter or project."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class TransientSourceError(SourceError):
    """A failure that a later retry may not see (timeouts, 5xx, broker not available)."""

    transient = True
