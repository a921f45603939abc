"""One typed settings object, read from YAML with environment overrides.

Precedence (last wins): built-in defaults, the YAML file (`--config PATH` or
`STACKLEDGER_CONFIG`), then environment variables `STACKLEDGER__SECTION__KEY=value`
(values are parsed as YAML scalars, so `true`, `5` and `[a, b]` keep their types).
Secrets are `SecretStr`: they print as '**********' and never reach logs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stackledger.errors import ConfigError

ENV_PREFIX = "STACKLEDGER__"
CONFIG_ENV = "STACKLEDGER_CONFIG"
PACKAGE_DATA = Path(__file__).parent / "data"
DEFAULT_RATE_CARD = PACKAGE_DATA / "rate_card.example.yaml"


class Section(BaseModel):
    # A typo in a config key is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite:///stackledger.db"
    echo: bool = False


class IngestSettings(Section):
    batch_size: int = Field(default=5000, gt=0)


class UsageSettings(Section):
    # How far before a window we look for the previous reading of a cumulative counter.
    cumulative_lookback_hours: int = Field(default=24, ge=1)
    region: str = "RegionOne"
    # The usage rows rating reads. Usage computed from Kafka/file samples ("ceilometer") and usage
    # collected from Gnocchi ("gnocchi") describe the same cloud: rating uses one, never both.
    # "synthetic": the demo cloud's usage as `stackledger collect --source synthetic` stores it.
    source: Literal["ceilometer", "gnocchi", "synthetic"] = "ceilometer"


class ReportSettings(Section):
    organisation: str = "Example Cloud"
    out_dir: Path = Path("out")
    # Processes rendering the project PDFs: 0 = one per CPU (at most 4); 1 = in the calling process.
    workers: int = Field(default=0, ge=0, le=32)
    # Compare instance-hours with Nova's os-simple-tenant-usage while rendering (`stackledger reconcile`,
    # needs the `openstack` section); off: the data-quality section says no reconciliation is stored.
    reconcile_nova: bool = False
    email: ReportEmailSettings | None = None  # `stackledger report --email`


class ProviderBaseline(Section):
    """How one public cloud stands in for ours (`transforms.equivalents` explains the rules)."""

    region: str
    families: list[str]
    flavors: dict[str, str] = Field(default_factory=dict)  # flavor name -> instance type / droplet slug
    volume_types: dict[str, str] = Field(default_factory=dict)  # volume type -> storage SKU
    skus: dict[str, str] = Field(default_factory=dict)  # service -> SKU, tier group or `included`


class AwsBaseline(ProviderBaseline):
    region: str = "us-east-1"
    families: list[str] = Field(default_factory=lambda: ["m5", "m6i", "m7i"])


class DigitalOceanBaseline(ProviderBaseline):
    region: str = "all"  # DigitalOcean list prices do not vary by region
    families: list[str] = Field(default_factory=lambda: ["s"])


class BaselineSettings(Section):
    providers: list[Literal["aws", "digitalocean"]] = ["aws", "digitalocean"]  # the books `rate` writes
    price_overrides: Path | None = None  # user price book CSV: replaces / adds packaged rows
    aws: AwsBaseline = AwsBaseline()
    digitalocean: DigitalOceanBaseline = DigitalOceanBaseline()


class FxRateSettings(Section):
    """1 `from` = `rate` `to`, from 00:00 UTC on `valid_from` until the pair's next rate."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)

    source: str = Field(alias="from", pattern=r"^[A-Z]{3}$")
    target: str = Field(alias="to", pattern=r"^[A-Z]{3}$")
    rate: Decimal = Field(gt=0, allow_inf_nan=False)
    valid_from: dt.date


class SmtpNotifierSettings(Section):
    """`email` notifier: one message per notification, plain text, over SMTP."""

    host: str = "localhost"
    port: int = Field(default=25, gt=0, lt=65536)
    security: Literal["none", "starttls", "ssl"] = "none"  # ssl = SMTPS (implicit TLS, usually port 465)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "stackledger@localhost"  # the From: address
    recipients: list[str] = Field(default_factory=list)  # the To: addresses
    subject_prefix: str = "[StackLedger]"
    timeout_s: float = Field(default=10.0, gt=0)
    ca_bundle: Path | None = None  # CA file to verify the server with (default: the system store)


class WebhookNotifierSettings(Section):
    """`webhook` notifier: Aodh-style JSON POST, HMAC-SHA256 signed when `secret` is set."""

    url: str
    secret: SecretStr | None = None  # signs the body: X-StackLedger-Signature: sha256=<hex>
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class SlackNotifierSettings(Section):
    """`slack` notifier: Slack-compatible incoming webhook (`{"text": …}`); the URL is a secret."""

    url: SecretStr
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True


class KafkaNotifierSettings(Section):
    """`kafka` notifier: the webhook's JSON body as a message on `topic`, keyed by alarm id."""

    bootstrap_servers: str = "localhost:9092"
    topic: str = "stackledger.alarms"
    timeout_s: float = Field(default=10.0, gt=0)


class NotifierSettings(Section):
    """Notifiers by name; `log` always exists, the others exist when configured here."""

    log_level: Literal["INFO", "WARNING", "ERROR"] = "WARNING"
    email: SmtpNotifierSettings | None = None
    webhook: WebhookNotifierSettings | None = None
    slack: SlackNotifierSettings | None = None
    kafka: KafkaNotifierSettings | None = None
    retry_attempts: int = Field(default=3, ge=1)  # per notification and notifier, first try included
    retry_backoff_s: float = Field(default=0.5, ge=0)  # doubled after each failed try, at most 30 s


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


class CollectSettings(Section):
    """`stackledger collect`: how a range is cut into checkpointed windows."""

    window: Literal["hour", "day"] = "day"  # UTC hours or days, clipped to the range asked for
    # A window ending later than this before now is stored but not checkpointed: its data may still
    # arrive (polling interval + metricd delay), so the next run collects it again.
    settle_minutes: int = Field(default=30, ge=0)


class ForecastSettings(Section):
    """Month-end cost forecast for `basis: forecast` budgets (alarms/stats.py explains both methods)."""

    method: Literal["trailing_mean", "linear"] = "trailing_mean"
    window_days: int = Field(default=7, ge=2, le=62)  # complete days the forecast learns from
    min_days: int = Field(default=3, ge=1)  # fewer rated days than this in the window: insufficient_data


class AlarmSettings(Section):
    rules: Path | None = None  # the rules YAML; relative paths are relative to the config file
    default_notify: list[str] = Field(default_factory=lambda: ["log"])  # a rule without `notify`
    notifiers: NotifierSettings = NotifierSettings()
    forecast: ForecastSettings = ForecastSettings()
    # metric_threshold rules with `source: gnocchi` use the top-level `gnocchi` section (the collector's).


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


class ReportEmailSettings(Section):
    """`stackledger report --email`: the finance summary to `finance`, each team's project PDFs to
    its lead, over SMTP. `smtp` is the server (host, port, security: none | starttls | ssl,
    username, password, sender, timeout_s, ca_bundle); without it, `alarms.notifiers.email`'s
    server is used. Its `recipients` are the alarm's and must stay empty here."""

    smtp: SmtpNotifierSettings | None = None
    finance: list[str] = Field(default_factory=list)  # To: of the finance summary
    team_leads: dict[str, str] = Field(default_factory=dict)  # team -> the lead's address
    subject_prefix: str = "[StackLedger]"
    attach_xlsx: bool = True  # the finance email carries the XLSX workbook too

    @model_validator(mode="after")
    def _recipients_here(self) -> ReportEmailSettings:
        if self.smtp is not None and self.smtp.recipients:
            raise ValueError("smtp.recipients is not used for reports: set report.email.finance and team_leads")
        return self


class AirflowSettings(Section):
    """The DAGs in airflow_dags/ (README: "Deploying into an existing Airflow")."""

    # What the hourly DAG collects. None: keystone, nova and cinder, plus `usage.source` when a
    # collector provides it (gnocchi). Shardable sources (gnocchi) run in the Gnocchi pool.
    sources: list[str] | None = None
    shards: int = Field(default=1, ge=1, le=256)  # project shards per shardable source: mapped tasks
    report_formats: list[str] = Field(default_factory=lambda: ["pdf", "projects", "csv", "xlsx", "focus"])
    report_dir: Path | None = None  # the monthly DAG writes into <report_dir>/YYYY-MM; default: report.out_dir


class KeystoneAuthSettings(Section):
    """How `stackledger serve` checks Keystone tokens: as a service user of its own (like any
    OpenStack service), which validates tokens and reads users' role assignments and groups.

    The user needs `reader` on the system scope (or `admin`). Either `cloud` names its
    clouds.yaml entry, or `auth_url` + `username` + `password` (+ a scope) give it here."""

    cloud: str | None = None  # clouds.yaml entry of the service user (OS_CLIENT_CONFIG_FILE)
    auth_url: str | None = None  # e.g. https://keystone.example.com/v3
    username: str = "stackledger"
    password: SecretStr | None = None
    user_domain_name: str = "Default"
    system_scope: str | None = "all"  # or a project scope below
    project_name: str | None = None
    project_domain_name: str = "Default"
    # Tokens scoped to this project with role admin or reader see every project (policy
    # `context_is_cloud_reader`); a web login holding a role there is scoped to it.
    admin_project: str = "admin"
    admin_project_domain: str = "Default"
    token_cache_seconds: int = Field(default=300, ge=0, le=3600)  # a validated token is trusted this long
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None


class TeamLeadRule(Section):
    """Who leads a team: the members of a Keystone group, or the holders of a role (anywhere)."""

    group: str | None = None  # group name or id
    role: str | None = None  # role name

    @model_validator(mode="after")
    def _one_of(self) -> TeamLeadRule:
        if (self.group is None) == (self.role is None):
            raise ValueError("give exactly one of group or role")
        return self


class ApiSettings(Section):
    """`stackledger serve`: the team leads' API and web page (stackledger/api; README "The API")."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)
    workers: int = Field(default=1, ge=1, le=32)  # uvicorn worker processes
    keystone: KeystoneAuthSettings = KeystoneAuthSettings()
    policy_file: Path | None = None  # oslo.policy overrides (YAML); None: the packaged defaults
    team_leads: dict[str, TeamLeadRule] = Field(default_factory=dict)  # team -> who leads it
    # Signs and encrypts the session cookie. Unset: a random key per start (sessions end on
    # restart; with workers > 1, set it so every worker reads every cookie).
    cookie_secret: SecretStr | None = None
    cookie_secure: Literal["auto"] | bool = "auto"  # auto: Secure when the request came over https
    metrics_token: SecretStr | None = None  # `Authorization: Bearer …` for /metrics scrapers
    cache_seconds: float = Field(default=30.0, ge=0)  # query results live at most this long (see figures)
    demo: bool = False  # as `serve --demo`: the demo database, built-in demo users, no Keystone


class Settings(Section):
    database: DatabaseSettings = DatabaseSettings()
    rate_card: Path = DEFAULT_RATE_CARD
    ingest: IngestSettings = IngestSettings()
    usage: UsageSettings = UsageSettings()
    report: ReportSettings = ReportSettings()
    baselines: BaselineSettings = BaselineSettings()
    fx: list[FxRateSettings] = Field(default_factory=list)
    alarms: AlarmSettings = AlarmSettings()
    gnocchi: GnocchiSourceSettings = GnocchiSourceSettings()
    collect: CollectSettings = CollectSettings()
    kafka: KafkaSettings = KafkaSettings()
    openstack: OpenStackSettings = OpenStackSettings()
    airflow: AirflowSettings = AirflowSettings()
    api: ApiSettings = ApiSettings()
    source_file: str | None = Field(default=None, exclude=True)


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from an optional YAML file and the environment."""
    env = os.environ if environ is None else environ
    file = str(path) if path is not None else env.get(CONFIG_ENV)
    data: dict[str, Any] = _read_yaml(file) if file else {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            _set_path(data, key[len(ENV_PREFIX) :].lower().split("__"), _parse_scalar(key, value))
    if file and "rate_card" in data and not Path(str(data["rate_card"])).is_absolute():
        # Relative paths in a config file are relative to that file, as a user expects.
        data["rate_card"] = str(Path(file).parent / str(data["rate_card"]))
    baselines = data.get("baselines")
    if file and isinstance(baselines, dict) and baselines.get("price_overrides"):
        overrides = Path(str(baselines["price_overrides"]))
        baselines["price_overrides"] = str(overrides if overrides.is_absolute() else Path(file).parent / overrides)
    alarms = data.get("alarms")
    if file and isinstance(alarms, dict) and alarms.get("rules"):
        rules = Path(str(alarms["rules"]))
        alarms["rules"] = str(rules if rules.is_absolute() else Path(file).parent / rules)
    api = data.get("api")
    if file and isinstance(api, dict) and api.get("policy_file"):
        policy = Path(str(api["policy_file"]))
        api["policy_file"] = str(policy if policy.is_absolute() else Path(file).parent / policy)
    kafka = data.get("kafka")
    if file and isinstance(kafka, dict):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if kafka.get(key):
                tls = Path(str(kafka[key]))
                kafka[key] = str(tls if tls.is_absolute() else Path(file).parent / tls)
    try:
        return Settings(**data, source_file=file)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(_expected(first, secret=_is_secret(key)), file=file or "<environment>", key=key) from None


def _read_yaml(file: str) -> dict[str, Any]:
    try:
        with open(file, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError("expected a mapping of sections at the top level", file=file)
    return loaded


def _parse_scalar(key: str, raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"value {raw!r} is not a YAML scalar", file="<environment>", key=key) from None


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError("cannot set a key inside a non-mapping value", key=".".join(parts))
    node[parts[-1]] = value


_SECRET_WORDS = ("password", "secret", "token", "key")


def _is_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _expected(error: Mapping[str, Any], *, secret: bool) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if secret or "input" not in error:  # never echo a secret's value back
        return str(error["msg"])
    return f"{error['msg']} (got {error['input']!r})"
