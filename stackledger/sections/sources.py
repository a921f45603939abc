"""Settings of the cloud's sources: Gnocchi, OpenStack (Nova, Cinder, Keystone) and Kafka."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from stackledger.sections import Section


class GnocchiSourceSettings(Section):
    """The Gnocchi collector (`stackledger collect --source gnocchi`, `collectors.gnocchi`)."""

    url: str | None = None  # e.g. http://gnocchi:8041 (without /v1); keystone: None = the catalog's `metric`
    auth_mode: Literal["basic", "keystone"] = "basic"
    user: str = "admin"  # basic: the user name is the identity; only "admin" sees every project
    password: SecretStr | None = None  # basic: sent as is (Gnocchi's basic mode ignores it)
    cloud: str | None = None  # keystone: the clouds.yaml entry (default: $OS_CLOUD)
    timeout_s: float = Field(default=120.0, gt=0)  # per HTTP request
    verify_tls: bool = True
    retries: int = Field(default=4, ge=0)  # per request, on connection errors, 5xx and 429
    backoff_s: float = Field(default=0.5, ge=0)  # first wait between tries, doubled each time, at most 30 s
    concurrency: int = Field(default=4, ge=1, le=32)  # aggregates requests in flight at once
    projects: list[str] = Field(default_factory=list)  # collect only these project ids; empty: all
    meters: list[str] | None = None  # the meters to collect (default: every meter collectors.gnocchi knows)
    # true: group points by the flavor / volume type in force at their time (Gnocchi's use_history;
    # DESIGN §6). false: plain groupby, the attribute in force taken from the revision search the
    # collector makes anyway — about 40% less Gnocchi CPU (4.7.1 fetches every revision separately
    # under use_history), the same usage when asking for every project, but under a project filter
    # it misses the hours of a resource since moved out of the filtered projects. auto: plain
    # groupby unless a project filter (`projects`, or an Airflow shard) is in effect; see
    # collectors/gnocchi.py.
    use_history: Literal["auto"] | bool = "auto"
    # use_history leaves out resources whose first revision began after `stop`; Ceilometer creates a
    # resource when it publishes its first sample, a little after that sample's time. Asking up to
    # this much past the window's end keeps such resources; the extra points are dropped.
    stop_grace_minutes: int = Field(default=60, ge=0, le=24 * 60)


class ProjectTagSettings(Section):
    """How Keystone project tags become team, cost center and budget (`collectors.keystone`).

    Each rule is a regular expression with exactly one group, matched against the project's tags
    in Keystone's (sorted) order; the first tag that matches gives the value. A prefix `p` is the
    rule `^p(.+)$`. A budget tag's value is `AMOUNT CURRENCY[/PERIOD]`: `1200EUR`, `1200.50 EUR/month`.
    """

    team: str = r"^team:(.+)$"
    cost_center: str = r"^cost-center:(.+)$"
    budget: str | None = r"^budget:(.+)$"  # None: budgets do not come from Keystone
    inherit: bool = True  # a project without a team / cost-center tag takes its nearest ancestor's

    @model_validator(mode="after")
    def _one_group_each(self) -> ProjectTagSettings:
        for name in ("team", "cost_center", "budget"):
            pattern = getattr(self, name)
            if pattern is None:
                continue
            try:
                groups = re.compile(pattern).groups
            except re.error as error:
                raise ValueError(f"{name}: {pattern!r} is not a regular expression: {error}") from None
            if groups != 1:
                raise ValueError(f"{name}: {pattern!r} must have exactly one group (it has {groups})")
        return self


class OpenStackSettings(Section):
    """Nova, Cinder and Keystone through openstacksdk (`collectors.nova`, `collectors.cinder`,
    `collectors.keystone`, `stackledger reconcile`). The cloud comes from clouds.yaml."""

    cloud: str | None = None  # the clouds.yaml entry (default: $OS_CLOUD)
    region: str | None = None  # the region read and written on resources (default: the cloud's region_name)
    interface: Literal["public", "internal", "admin"] | None = None  # catalog interface (default: the cloud's)
    # "auto": the highest microversion both the cloud and StackLedger know (Nova 2.102, Cinder 3.71);
    # or one to request exactly, e.g. "2.46" on a cloud whose newer answers misbehave.
    nova_microversion: str = Field(default="auto", pattern=r"^(auto|2\.\d{1,3})$")
    cinder_microversion: str = Field(default="auto", pattern=r"^(auto|3\.\d{1,3})$")
    page_size: int = Field(default=1000, ge=1, le=1000)  # items per page (Nova and Cinder cap it at 1000)
    timeout_s: float = Field(default=60.0, gt=0)  # per HTTP request
    retries: int = Field(default=4, ge=0)  # per request, on connection errors, 5xx and 429
    backoff_s: float = Field(default=0.5, ge=0)  # first wait between tries, doubled each time, at most 30 s
    # A server whose launched_at is later than its creation by more than this was relaunched
    # (resize, rebuild, unshelve): the API no longer shows its earlier flavor (collectors.nova).
    relaunch_grace_minutes: int = Field(default=60, ge=0)
    tags: ProjectTagSettings = ProjectTagSettings()

    @field_validator("nova_microversion", "cinder_microversion", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # YAML reads 2.10 as the number 2.1
            raise ValueError(f"write the microversion as a string, e.g. '2.47' (got the number {value})")
        return value


class KafkaSettings(Section):
    """`stackledger consume`: Ceilometer samples from Kafka (`collectors.kafka` explains the stream).

    Offsets are committed by StackLedger after each batch is stored, never automatically.
    """

    bootstrap_servers: str | list[str] = "localhost:9092"  # "host:port[,host:port…]" or a list
    topic: str = Field(default="metering.sample", min_length=1)  # Ceilometer's `<topic>.sample`
    group_id: str = Field(default="stackledger", min_length=1)
    # Static membership (KIP-345): a restarted consumer with the same id takes its partitions back
    # at once instead of waiting `session_timeout_ms` for the old member to expire. One id per process.
    group_instance_id: str | None = None
    client_id: str = "stackledger-consume"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"  # a new group reads the retained backlog
    batch_size: int = Field(default=1000, gt=0)  # records per stored batch (one transaction, one commit)
    batch_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)  # or fewer records, when they are this large
    batch_timeout_ms: int = Field(default=1000, gt=0)  # store a partial batch after this long
    # Processes that parse and store batches beside the consumer (PostgreSQL; 0 = one thread in it).
    workers: int = Field(default=2, ge=0, le=64)
    max_poll_records: int = Field(default=500, gt=0)  # records per poll(); batches span polls
    max_partition_fetch_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    fetch_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    max_message_bytes: int = Field(default=1024 * 1024, gt=0)  # larger records are dead-lettered unread
    session_timeout_ms: int = Field(default=10_000, gt=0)
    bootstrap_timeout_ms: int = Field(default=30_000, gt=0)  # for a first broker to answer, per connect try
    heartbeat_interval_ms: int = Field(default=3_000, gt=0)
    max_poll_interval_ms: int = Field(default=300_000, gt=0)
    lag_log_interval_s: float = Field(default=30.0, gt=0)  # one INFO line with the lag per partition
    retry_attempts: int = Field(default=5, ge=1)  # per batch store or offset commit, first try included
    retry_backoff_s: float = Field(default=1.0, ge=0)  # doubled after each failed try, at most 30 s
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    ssl_cafile: Path | None = None  # CA bundle to verify the brokers with (default: the system store)
    ssl_certfile: Path | None = None  # client certificate (mutual TLS)
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None  # of the key file
    ssl_check_hostname: bool = True

    # Field validators, not a model validator: a section-level error would echo the whole section,
    # password included; these name one key, and a secret key's value is never echoed.
    @field_validator("heartbeat_interval_ms")
    @classmethod
    def _below_session_timeout(cls, value: int, info: ValidationInfo) -> int:
        if value >= info.data.get("session_timeout_ms", value + 1):
            raise ValueError("must be below session_timeout_ms")
        return value

    @field_validator("sasl_password")
    @classmethod
    def _sasl_complete(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        protocol = info.data.get("security_protocol", "PLAINTEXT")
        if protocol.startswith("SASL"):
            if info.data.get("sasl_mechanism") is None or not info.data.get("sasl_username") or value is None:
                raise ValueError(f"{protocol} needs sasl_mechanism, sasl_username and sasl_password")
        elif info.data.get("sasl_mechanism") is not None:
            raise ValueError(f"sasl_mechanism is set but security_protocol is {protocol}")
        return value
