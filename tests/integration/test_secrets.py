"""Secrets never leave (issue 12): a distinct, greppable secret in every secret-bearing setting,
every command run at `-vv` (in this process, each run from a fresh process's state: nothing
remembered by `stackledger.redact`) with good, bad and unreachable values, and every
output searched: stdout, stderr (the log and the redacted tracebacks), every file written (PDF
text, XLSX, CSV, JSON, the SQLite file), every row of the store, and every message received by the
SMTP, webhook and Slack receivers. `tests/unit/test_redact.py` shows the search (`find_leaks`)
catches a planted leak in each kind of place; `test_the_search_sees_the_secrets` below shows it
sees these very secrets where they are written on purpose (the settings files).

Good values use the real services: PostgreSQL (trust authentication: the URL's password is
sent and ignored), Kafka, Gnocchi (basic mode ignores the password), Keystone and the Nova/Cinder
simulator (the real admin password, from clouds.yaml), and receivers started here (aiosmtpd with
STARTTLS and login, an HMAC-checking webhook, a Slack-style webhook). Unreachable values are
closed ports on 127.0.0.1."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from stackledger import redact
from tests.conftest import gnocchi_endpoint, require_env, require_openstack
from tests.e2e.test_bad_inputs import closed_port, exit_status
from tests.e2e.test_rate_cli import write_samples
from tests.integration.test_alarm_delivery import (
    SECRET,
    SMTP_PASSWORD,
    kafka_topic,
    self_signed,
    smtp_server,
    url_of,
    webhook_server,
)
from tests.secrets_check import Leak, database_text, files_text, find_leaks

pytestmark = pytest.mark.services

MONTH = "2026-10"
# name -> value; every value distinct and greppable. The receivers check SMTP_PASSWORD and SECRET.
SECRETS = {
    "database.url password": "sl-leak-db-4f1c",
    "kafka.ssl_password": "sl-leak-kafka-ssl-9b2e",
    "kafka.sasl_password": "sl-leak-kafka-sasl-7d3a",
    "gnocchi.password": "sl-leak-gnocchi-2c8f",
    "gnocchi.url password": "sl-leak-gnocchi-url-5e6b",
    "report.email.smtp.password": SMTP_PASSWORD,
    "report.email.smtp.password (wrong)": "sl-leak-smtp-wrong-3a9d",
    "alarms.notifiers.email.password": "sl-leak-alarm-smtp-8e1f",
    "alarms.notifiers.webhook.secret": SECRET,
    "alarms.notifiers.webhook.headers": "sl-leak-webhook-bearer-6c4d",
    "alarms.notifiers.slack.url": "sl-leak-slack-path-1b7e",
    "clouds.yaml password (wrong)": "sl-leak-keystone-wrong-0d5c",
    "clouds.yaml password (unreachable)": "sl-leak-keystone-closed-4e2a",
    "DIGITALOCEAN_ACCESS_TOKEN": "sl-leak-do-token-9f3b",
    "price URL password": "sl-leak-price-url-2d6e",
    "price URL token": "sl-leak-price-query-7a1c",
}
RULES = """
rules:
  - name: spend
    kind: budget
    scope: total
    amount: 1
    currency: EUR
    thresholds: [{at: 50%, basis: actual, severity: critical}]
    notify: [log, webhook, slack, email]
"""


@dataclass
class Run:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class World:
    """Everything the commands write to and read from; `runs` and `received` collect what came out."""

    tmp: Path
    env: dict[str, str]  # the environment of every run, besides the test process's own
    capsys: pytest.CaptureFixture[str]
    runs: list[Run] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    def run(self, *argv: str, expect: int | None = 0, env: dict[str, str] | None = None) -> Run:
        """`stackledger -vv ARGV` as a fresh process would run it: nothing remembered from the runs
        before, no STACKLEDGER__ variable but `self.env` and `env`, the working directory `tmp`."""
        redact.forget()
        with pytest.MonkeyPatch.context() as patch:
            for name in list(os.environ):
                if name.startswith("STACKLEDGER__") or name == "STACKLEDGER_CONFIG":
                    patch.delenv(name)
            for name, value in {**self.env, **(env or {})}.items():
                patch.setenv(name, value)
            patch.chdir(self.tmp)
            started = time.monotonic()
            code = exit_status(["-vv", *argv])
        out, err = self.capsys.readouterr()
        run = Run(list(argv), code, out, err, time.monotonic() - started)
        self.runs.append(run)
        if expect is not None:
            assert run.code == expect, f"{argv}: exit {run.code}\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
        return run


def base_environment(tmp: Path) -> dict[str, str]:
    return {"DIGITALOCEAN_ACCESS_TOKEN": SECRETS["DIGITALOCEAN_ACCESS_TOKEN"],
            "STACKLEDGER_CONFIG": str(tmp / "settings" / "stackledger.yaml")}  # fmt: skip


def write_clouds(path: Path, name: str, auth_url: str, password: str) -> None:
    auth = {"auth_url": auth_url, "username": os.environ.get("OS_USERNAME", "admin"), "password": password,
            "project_name": os.environ.get("OS_PROJECT_NAME", "admin"), "user_domain_name": "Default",
            "project_domain_name": "Default"}  # fmt: skip
    cloud = {"auth": auth, "region_name": "RegionOne", "identity_api_version": 3, "interface": "public"}
    path.write_text(yaml.safe_dump({"clouds": {name: cloud}}), encoding="utf-8")


def good_settings(world: World, db: str, *, smtp_port: int, ca_file: Path, webhook: str, slack: str,
                  kafka: str, topic: str, gnocchi: str) -> None:  # fmt: skip
    settings = {
        "database": {"url": db},
        "report": {"out_dir": str(world.tmp / "out"), "email": {
            "finance": ["finance@example.com"],
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "starttls", "ca_bundle": str(ca_file),
                     "username": "alarms", "password": SMTP_PASSWORD, "sender": "reports@example.com"}}},
        "alarms": {"rules": str(world.tmp / "settings" / "rules.yaml"), "notifiers": {
            "email": {"host": "127.0.0.1", "port": closed_port(), "username": "alarms", "timeout_s": 2,
                      "password": SECRETS["alarms.notifiers.email.password"], "recipients": ["ops@example.com"]},
            "webhook": {"url": webhook, "secret": SECRET, "headers": {
                "Authorization": f"Bearer {SECRETS['alarms.notifiers.webhook.headers']}"}},
            "slack": {"url": slack}, "retry_attempts": 1}},
        "kafka": {"bootstrap_servers": kafka, "topic": topic, "group_id": f"{topic}.secrets",
                  "ssl_password": SECRETS["kafka.ssl_password"], "workers": 0},
        "gnocchi": {"url": gnocchi, "password": SECRETS["gnocchi.password"], "retries": 0},
        "openstack": {"cloud": "good", "retries": 0},
    }  # fmt: skip
    folder = world.tmp / "settings"
    (folder / "stackledger.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's URL; PostgreSQL's carries the database password secret (sent, and ignored)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(request.getfixturevalue("pg_url"))
    from stackledger.store import tables

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in tables.metadata.sorted_tables)} CASCADE"))
    engine.dispose()
    return url.set(password=SECRETS["database.url password"]).render_as_string(hide_password=False)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    (tmp_path / "settings").mkdir()
    yield World(tmp_path, base_environment(tmp_path), capsys)
    redact.forget()


def test_no_command_lets_a_secret_out(world: World, database: str) -> None:
    require_openstack()
    gnocchi, _user = gnocchi_endpoint()
    keystone = require_env("OS_AUTH_URL", "keystone")
    good_password = require_env("OS_PASSWORD", "keystone")
    tls, ca_file = self_signed(world.tmp / "settings")
    clouds = world.tmp / "settings" / "clouds.yaml"
    write_clouds(clouds, "good", keystone, good_password)
    world.env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    samples = write_samples(world.tmp / "samples.jsonl")

    with ExitStack() as stack:
        box, smtp_port = stack.enter_context(smtp_server(tls))
        hook = stack.enter_context(webhook_server(SECRET))
        slack = stack.enter_context(webhook_server(None))
        kafka, topic = stack.enter_context(kafka_topic())
        slack_url = f"http://127.0.0.1:{slack.server_address[1]}/services/{SECRETS['alarms.notifiers.slack.url']}"
        good_settings(world, database, smtp_port=smtp_port, ca_file=ca_file, webhook=url_of(hook), slack=slack_url,
                      kafka=kafka, topic=topic, gnocchi=gnocchi)  # fmt: skip
        good_runs(world, samples)
        bad_runs(world, smtp_port, keystone, kafka)
        world.received = [str(message) for message in box.messages] + [str(body) for body in hook.received]
        world.received += [str(body) for body in slack.received]
        evaluated = next(run for run in world.runs if run.argv[:2] == ["alarms", "evaluate"])
        delivered = (len(hook.received), len(slack.received), len(box.messages))
        assert all(delivered), f"the good runs must have delivered: {delivered}\n{evaluated}"
    unreachable_runs(world)

    texts = {f"run {i} {' '.join(run.argv)}: {part}": text for i, run in enumerate(world.runs)
             for part, text in (("stdout", run.stdout), ("stderr", run.stderr))}  # fmt: skip
    texts |= {f"received {i}": text for i, text in enumerate(world.received)}
    texts |= {path: text for path, text in files_text(world.tmp).items() if "/settings/" not in path}
    texts |= {f"table {name}": rows for name, rows in database_text(database).items()}
    assert any("Traceback" in run.stderr for run in world.runs), "-vv tracebacks must be searched too"
    assert find_leaks(texts, SECRETS, users=["alarms", "admin", "reader"]) == []


def test_the_search_sees_the_secrets(world: World) -> None:
    """The settings files hold every secret on purpose: the search must find each one there."""
    write_clouds(
        world.tmp / "settings" / "clouds.yaml", "x", "http://127.0.0.1:1/v3", SECRETS["clouds.yaml password (wrong)"]
    )
    (world.tmp / "settings" / "all.txt").write_text(repr(SECRETS), encoding="utf-8")
    found = find_leaks(files_text(world.tmp / "settings"), SECRETS)
    assert {leak.secret for leak in found} == set(SECRETS)
    assert Leak("clouds.yaml password (wrong)", str(world.tmp / "settings" / "clouds.yaml"),
                SECRETS["clouds.yaml password (wrong)"]) in found  # fmt: skip


# ------------------------------------------------------------------------------ the runs


def good_runs(world: World, samples: Path) -> None:
    """Every command with every secret set and good: each one succeeds."""
    out = str(world.tmp / "out")
    world.run("config", "show")
    world.run("config", "example")
    world.run("db", "upgrade")
    world.run("db", "current")
    world.run("ingest", str(samples))
    world.run("rate", "--month", MONTH)
    world.run("report", "--month", MONTH, "--format", "pdf,projects,csv,xlsx,focus,json", "--out", out)
    world.run("report", "--month", MONTH, "--format", "pdf", "--out", out, "--email", "--resend")
    world.run("compare", "--month", MONTH)
    world.run("prices", "show")
    world.run("alarms", "check-rules", str(world.tmp / "settings" / "rules.yaml"))
    world.run("alarms", "evaluate", "--at", "2026-10-16T00:00:00Z", expect=None)  # email is unreachable
    world.run("alarms", "list")
    world.run("alarms", "history")
    window = ["--start", "2026-10-01T00:00", "--end", "2026-10-01T01:00"]
    world.run("collect", "--source", "gnocchi", *window)
    world.run("collect", "--source", "keystone", *window)
    world.run("collect", "--source", "nova", *window)
    world.run("reconcile", "--month", MONTH, expect=None)  # differences are exit 1
    world.run("consume", "--until-idle", "1")


def bad_runs(world: World, smtp_port: int, keystone: str, kafka: str) -> None:
    """Wrong secrets and invalid settings around them: refused, one line, nothing echoed."""
    out = str(world.tmp / "out")
    wrong = {"STACKLEDGER__REPORT__EMAIL__SMTP__PASSWORD": SECRETS["report.email.smtp.password (wrong)"]}
    world.run("report", "--month", MONTH, "--format", "pdf", "--out", out, "--email", "--resend", env=wrong, expect=2)
    clouds = world.tmp / "settings" / "wrong-clouds.yaml"
    write_clouds(clouds, "good", keystone, SECRETS["clouds.yaml password (wrong)"])
    wrong = {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    world.run("collect", "--source", "keystone", "--start", "2026-10-01T01:00", "--end", "2026-10-01T02:00",
              env=wrong, expect=2)  # fmt: skip
    world.run("reconcile", "--month", MONTH, env=wrong, expect=2)
    sasl = {"STACKLEDGER__KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT", "STACKLEDGER__KAFKA__SASL_MECHANISM": "PLAIN",
            "STACKLEDGER__KAFKA__SASL_USERNAME": "reader", "STACKLEDGER__KAFKA__RETRY_ATTEMPTS": "1",
            "STACKLEDGER__KAFKA__BOOTSTRAP_TIMEOUT_MS": "3000",
            "STACKLEDGER__KAFKA__SASL_PASSWORD": SECRETS["kafka.sasl_password"]}  # fmt: skip
    world.run("consume", "--until-idle", "1", env=sasl, expect=2)
    # invalid settings next to secrets: validation errors name keys, never values
    invalid = [
        {"STACKLEDGER__REPORT__EMAIL__SMTP__PORT": "abc"},
        {"STACKLEDGER__ALARMS__NOTIFIERS__WEBHOOK": f"{{secret: {SECRET}}}"},
        {"STACKLEDGER__KAFKA__SASL_MECHANISM": "PLAIN"},
        {"STACKLEDGER__GNOCCHI__RETRIES": "-1"},
        {"STACKLEDGER__DATABASE__URL": f"postgres//u:{SECRETS['database.url password']}@db/ledger"},
    ]
    for env in invalid:
        world.run("config", "show", env=env, expect=2)
        world.run("rate", "--month", MONTH, env=env, expect=2)


def unreachable_runs(world: World) -> None:
    """Every server behind a closed port, with its secrets set: one line naming the server only."""
    closed = closed_port()
    out = str(world.tmp / "out")
    database = {"STACKLEDGER__DATABASE__URL": f"postgresql+psycopg://ledger:{SECRETS['database.url password']}"
                f"@127.0.0.1:{closed}/ledger"}  # fmt: skip
    for argv in (["db", "upgrade"], ["ingest", str(world.tmp / "samples.jsonl")], ["rate", "--month", MONTH],
                 ["report", "--month", MONTH, "--out", out], ["alarms", "list"]):  # fmt: skip
        world.run(*argv, env=database, expect=2)
    kafka = {"STACKLEDGER__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}", "STACKLEDGER__KAFKA__RETRY_ATTEMPTS": "1",
             "STACKLEDGER__KAFKA__BOOTSTRAP_TIMEOUT_MS": "1500"}  # fmt: skip
    world.run("consume", "--until-idle", "1", env=kafka, expect=2)
    gnocchi = {"STACKLEDGER__GNOCCHI__URL": f"http://admin:{SECRETS['gnocchi.url password']}@127.0.0.1:{closed}"}
    world.run("collect", "--source", "gnocchi", "--start", "2026-10-01T02:00", "--end", "2026-10-01T03:00",
              env=gnocchi, expect=1)  # fmt: skip
    clouds = world.tmp / "settings" / "closed-clouds.yaml"
    write_clouds(clouds, "good", f"http://127.0.0.1:{closed}/v3", SECRETS["clouds.yaml password (unreachable)"])
    world.run("collect", "--source", "keystone", "--start", "2026-10-01T02:00", "--end", "2026-10-01T03:00",
              env={"OS_CLIENT_CONFIG_FILE": str(clouds)}, expect=2)  # fmt: skip
    smtp = {"STACKLEDGER__REPORT__EMAIL__SMTP__PORT": str(closed), "STACKLEDGER__REPORT__EMAIL__SMTP__SECURITY": "none"}
    world.run("report", "--month", MONTH, "--format", "pdf", "--out", out, "--email", "--resend", env=smtp, expect=2)
    hooks = {"STACKLEDGER__ALARMS__NOTIFIERS__WEBHOOK__URL": f"http://127.0.0.1:{closed}/hook",
             "STACKLEDGER__ALARMS__NOTIFIERS__SLACK__URL": f"http://127.0.0.1:{closed}/services/"
                                                            f"{SECRETS['alarms.notifiers.slack.url']}"}  # fmt: skip
    world.run("alarms", "evaluate", "--at", "2026-10-17T00:00:00Z", env=hooks, expect=None)
    price_url = (f"http://reader:{SECRETS['price URL password']}@127.0.0.1:{closed}/v2/sizes"
                 f"?token={SECRETS['price URL token']}")  # fmt: skip
    world.run("prices", "update", "--digitalocean", price_url, env={
        "STACKLEDGER__BASELINES__PRICE_OVERRIDES": str(world.tmp / "prices.csv")}, expect=2)  # fmt: skip
