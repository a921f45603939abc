"""Budget alarms delivered for real, on SQLite and PostgreSQL.

Receivers started by the tests on 127.0.0.1: an aiosmtpd SMTP server (plain, and STARTTLS
with login on a self-signed certificate), an http.server webhook receiver that verifies the
HMAC-SHA256 signature over the raw body (HTTP and HTTPS), and the Kafka broker from
`ops/up.sh kafka` (a fresh topic per test, consumed back). A missing broker is a failure.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from stackledger.alarms import RuleError
from stackledger.pipeline import store_for
from stackledger.pipeline.alarms import alarm_history, alarm_states, evaluate_alarms
from stackledger.settings import AlarmSettings, Settings
from stackledger.store import tables
from tests.conftest import require_env

pytestmark = pytest.mark.services

SECRET = "hmac-s3cret-never-logged"
SMTP_PASSWORD = "smtp-pa55word-never-logged"
RULES = """
rules:
  - name: team-budget
    kind: budget
    scope: project
    select: [p-web]
    amount: 1000
    currency: EUR
    thresholds:
      - {at: 80%, basis: actual, severity: moderate}
      - {at: 100%, basis: forecast, severity: critical}
    notify: [log, email, webhook, kafka]
"""
# Oct 1-10 at 30 EUR/day; the 11th-12th at 100 (forecast crosses 100% on the 13th);
# the 13th-14th at 160 (actual crosses 80% = 800 EUR on the 15th).
DAILY = {**{d: Decimal("30") for d in range(1, 11)}, 11: Decimal("100"), 12: Decimal("100"),
         13: Decimal("160"), 14: Decimal("160")}  # fmt: skip


# ----------------------------------------------------------------------------- receivers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"alarms", SMTP_PASSWORD.encode())  # fmt: skip
    return AuthResult(success=ok)


@contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"tls_context": tls, "require_starttls": True, "authenticator": check_login, "auth_required": True}
    controller = Controller(box, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


class Webhook(ThreadingHTTPServer):
    """secret None: a Slack-style incoming webhook, which takes any JSON body unsigned."""

    def __init__(self, secret: bytes | None, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), WebhookHandler)
        self.secret, self.fail_first = secret, fail_first
        self.received: list[dict[str, Any]] = []  # verified bodies, parsed
        self.rejected = 0
        self.requests = 0


class WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        secret = self.server.secret
        expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest() if secret is not None else ""
        if self.server.fail_first > 0:
            self.server.fail_first -= 1
            self.send_response(503)
        elif secret is not None and not hmac.compare_digest(expected, self.headers.get("X-StackLedger-Signature", "")):
            self.server.rejected += 1
            self.send_response(401)
        else:
            self.server.received.append(json.loads(raw))
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def webhook_server(secret: str | None = SECRET, fail_first: int = 0,
                   tls: ssl.SSLContext | None = None) -> Iterator[Webhook]:  # fmt: skip
    server = Webhook(secret.encode() if secret is not None else None, fail_first)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: Webhook, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}/hooks/stackledger"


@contextmanager
def kafka_topic() -> Iterator[tuple[str, str]]:
    bootstrap = require_env("STACKLEDGER_KAFKA_BOOTSTRAP", "kafka")
    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"no Kafka broker at {bootstrap} ({exc}): run `ops/up.sh kafka`", pytrace=False)
    name = f"test.alarms.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stackledger-test")
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        yield bootstrap, name
        admin.delete_topics([name])
    finally:
        admin.close()


def consume(bootstrap: str, topic: str, expected: int, *, wait_s: float = 20) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=f"{topic}.check")  # fmt: skip
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and len(found) < expected:
        for records in consumer.poll(timeout_ms=500).values():
            found.extend(json.loads(r.value) for r in records)
    # poll a little longer: a duplicate would show up here
    for records in consumer.poll(timeout_ms=1500).values():
        found.extend(json.loads(r.value) for r in records)
    consumer.close()
    return found


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file a client verifies it with."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


# ----------------------------------------------------------------------------- store data


def seed(settings: Settings, days: range) -> None:
    store = store_for(settings)
    with store.transaction() as conn:
        if not conn.execute(tables.projects.select()).first():
            store.insert(conn, tables.projects, [{"project_id": "p-web", "name": "web", "team": "web",
                                                  "budget_amount": None, "source": "test"}])  # fmt: skip
        store.insert(conn, tables.cost_lines, [cost_line(day) for day in days])


def cost_line(day: int) -> dict[str, Any]:
    start = dt.datetime(2026, 10, day)
    return {
        "charge_period_start": start, "charge_period_end": start + dt.timedelta(days=1), "project_id": "p-web",
        "resource_id": "vm-1", "resource_type": "instance", "service": "compute.instance", "flavor_name": "m1.large",
        "consumed_quantity": 24.0, "consumed_unit": "hour", "price_book": "internal", "sku": "m1.large",
        "list_unit_price": DAILY[day] / 24, "pricing_quantity": Decimal(24), "pricing_unit": "hour",
        "cost": DAILY[day], "currency": "EUR",
    }  # fmt: skip


def configure(settings: Settings, rules: Path, notifiers: dict[str, Any]) -> Settings:
    alarms = AlarmSettings.model_validate({
        "rules": str(rules),
        "notifiers": {"retry_attempts": 3, "retry_backoff_s": 0.01, **notifiers},
    })  # fmt: skip
    return settings.model_copy(update={"alarms": alarms})


def rules_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Path:
    """RULES on disk; every log line of ours captured, to check no secret reaches one."""
    caplog.set_level(logging.DEBUG, logger="stackledger.alarms")
    caplog.set_level(logging.DEBUG, logger="stackledger")
    rules = tmp_path / "alarms.yaml"
    rules.write_text(RULES)
    return rules


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 10, day)


# ----------------------------------------------------------------------------- tests


def test_budget_crossings_notify_once_each_everywhere(
    any_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = rules_file(tmp_path, caplog)
    with smtp_server() as (mailbox, smtp_port), webhook_server() as hook, kafka_topic() as (bootstrap, topic):
        settings = configure(any_settings, rules, {
            "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "alarms@cloud.example",
                      "recipients": ["finance@cloud.example", "lead@cloud.example"]},
            "webhook": {"url": url_of(hook), "secret": SECRET},
            "kafka": {"bootstrap_servers": bootstrap, "topic": topic},
        })  # fmt: skip
        seed(settings, range(1, 11))
        quiet = evaluate_alarms(settings, at(11))  # 300 spent, forecast 930: both under
        assert (quiet.transitions, quiet.notifications) == (2, 0)

        seed(settings, range(11, 13))
        forecast = evaluate_alarms(settings, at(13))  # 500 spent, forecast 1450 > 1000
        assert forecast.notifications == 1 and forecast.failed == 0
        assert sorted(d.notifier for d in forecast.deliveries) == ["email", "kafka", "log", "webhook"]

        seed(settings, range(13, 15))
        actual = evaluate_alarms(settings, at(15))  # 820 spent > 800; the forecast alarm stays alarm
        assert actual.notifications == 1 and actual.sent == 4

        again = evaluate_alarms(settings, at(15))  # the same instant: nothing
        assert (again.evaluated, again.transitions, again.notifications, again.deliveries) == (0, 0, 0, ())

        kafka = consume(bootstrap, topic, expected=2)

    conditions = ["forecast 100%", "actual 80%"]
    # Webhook: two verified bodies, nothing rejected, Aodh's keys first.
    assert hook.rejected == 0 and hook.requests == 2
    assert [body["condition"] for body in hook.received] == conditions
    first = hook.received[0]
    assert {k: first[k] for k in ("alarm_name", "severity", "previous", "current")} == {
        "alarm_name": "team-budget", "severity": "critical", "previous": "ok", "current": "alarm"}  # fmt: skip
    assert first["scope"] == "project:p-web" and first["evaluated_at"] == "2026-10-13T00:00:00Z"
    assert first["scope_label"] == "project web [p-web]"  # the name people know, the id in brackets
    data = first["reason_data"]
    assert (data["actual"], data["forecast"], data["forecast_method"], data["limit"]) == (
        "500.00", "1450.00", "trailing_mean", "1000.00")  # fmt: skip
    assert "forecast 1450.00 EUR > 1000.00 EUR" in first["reason"]
    assert hook.received[1]["reason_data"]["actual"] == "820.00"
    # Kafka: the same two bodies, keyed by alarm id.
    assert [m["condition"] for m in kafka] == conditions
    assert [m["alarm_id"] for m in kafka] == [b["alarm_id"] for b in hook.received]
    # Email: two messages, to both recipients, subject and body naming the alarm.
    assert len(mailbox.messages) == 2
    assert mailbox.envelopes[0] == ("alarms@cloud.example", ["finance@cloud.example", "lead@cloud.example"])
    subject = mailbox.messages[0]["Subject"]
    assert subject == "[StackLedger] ALARM critical: team-budget [forecast 100%] project web [p-web]"
    body = mailbox.messages[1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Transition to alarm due to actual 820.00 EUR > 800.00 EUR (80% of 1000.00 EUR)" in body

    states = alarm_states(settings)
    assert sorted(zip(states["condition"], states["state"], strict=True)) == [
        ("actual 80%", "alarm"), ("forecast 100%", "alarm")]  # fmt: skip
    history = alarm_history(settings, rule="team-budget", limit=100)
    sent = history[history["event"] == "notification"]
    assert len(sent) == 8 and set(sent["outcome"]) == {"sent"}
    assert len(history[history["event"] == "transition"]) == 4  # 2 × unknown→ok, 2 × ok→alarm
    assert SECRET not in caplog.text


def test_failing_notifiers_are_retried_recorded_and_block_nothing(
    any_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = rules_file(tmp_path, caplog)
    dead_smtp = free_port()  # nothing listens there
    with webhook_server(fail_first=2) as hook, kafka_topic() as (bootstrap, topic):
        settings = configure(any_settings, rules, {
            "email": {"host": "127.0.0.1", "port": dead_smtp, "recipients": ["ops@cloud.example"],
                      "username": "alarms", "password": SMTP_PASSWORD, "timeout_s": 2},
            "webhook": {"url": url_of(hook), "secret": SECRET},
            "kafka": {"bootstrap_servers": bootstrap, "topic": topic},
        })  # fmt: skip
        seed(settings, range(1, 15))
        result = evaluate_alarms(settings, at(15))
        kafka = consume(bootstrap, topic, expected=2)

    outcome = {(d.notification.key.condition, d.notifier): (d.ok, d.attempts) for d in result.deliveries}
    for condition in ("actual 80%", "forecast 100%"):
        assert outcome[(condition, "email")] == (False, 3)  # retried, then recorded as failed
        assert outcome[(condition, "kafka")] == (True, 1)
        assert outcome[(condition, "log")] == (True, 1)
    assert {outcome[(c, "webhook")] for c in ("actual 80%", "forecast 100%")} == {(True, 3), (True, 1)}
    assert len(hook.received) == 2 and len(kafka) == 2
    history = alarm_history(settings, limit=100)
    failed = history[history["outcome"] == "failed"]
    assert list(failed["notifier"]) == ["email", "email"] and set(failed["attempts"]) == {3}
    assert all("ConnectionRefusedError talking to 127.0.0.1" in e for e in failed["error"])
    assert "pending" not in set(history["outcome"])
    for text in (caplog.text, history.to_json(date_format="iso")):
        assert SMTP_PASSWORD not in text and SECRET not in text


def test_starttls_login_and_https_webhook_are_verified(any_settings: Settings, tmp_path: Path) -> None:
    tls, ca_file = self_signed(tmp_path)
    rules = tmp_path / "alarms.yaml"
    # repeat_actions: the second evaluation notifies again although nothing changed.
    rules.write_text(RULES.replace("[log, email, webhook, kafka]", "[email, webhook]\n    repeat_actions: true"))
    with smtp_server(tls) as (mailbox, port), webhook_server(tls=tls) as hook:
        email_config = {
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "ca_bundle": str(ca_file),
            "username": "alarms",
            "password": SMTP_PASSWORD,
            "recipients": ["ops@cloud.example"],
        }
        settings = configure(any_settings, rules, {
            "email": email_config, "webhook": {"url": url_of(hook, "https"), "secret": SECRET,
                                               "ca_bundle": str(ca_file)},
        })  # fmt: skip
        seed(settings, range(1, 15))
        verified = evaluate_alarms(settings, at(15))
        assert verified.sent == 4 and len(mailbox.messages) == 2 and len(hook.received) == 2

        # Without the CA the certificate does not verify: one attempt (not transient), recorded.
        untrusted = configure(any_settings, rules, {
            "email": {**email_config, "ca_bundle": None},
            "webhook": {"url": url_of(hook, "https"), "secret": SECRET},
        })  # fmt: skip
        result = evaluate_alarms(untrusted, at(16))
    failures = [(d.notifier, d.attempts, d.error) for d in result.deliveries if not d.ok]
    assert result.failed == 4 and len(mailbox.messages) == 2 and len(hook.received) == 2, failures
    assert {(n, a) for n, a, _ in failures} == {("email", 1), ("webhook", 1)}
    assert all("SSL" in (e or "") for _, _, e in failures)


def test_a_broken_rule_file_names_rule_and_field_and_evaluates_nothing(any_settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "alarms.yaml"
    rules.write_text(RULES + """  - name: broken-forecast
    kind: budget
    amount: 500
    currency: EUR
    thresholds: [{at: 110%, basis: crystal-ball}]
""")  # fmt: skip
    with webhook_server() as hook:
        settings = configure(any_settings, rules, {"webhook": {"url": url_of(hook), "secret": SECRET}})
        seed(settings, range(1, 15))
        with pytest.raises(RuleError) as caught:
            evaluate_alarms(settings, at(15))
    assert (caught.value.file, caught.value.rule, caught.value.field) == (
        str(rules), "broken-forecast", "thresholds.0.basis")  # fmt: skip
    assert str(rules) in str(caught.value) and "crystal-ball" in str(caught.value)
    assert hook.requests == 0
    assert alarm_states(settings).empty and alarm_history(settings).empty


def test_slack_compatible_webhook_gets_text_and_its_url_stays_secret(
    any_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = rules_file(tmp_path, caplog)
    rules.write_text(RULES.replace("[log, email, webhook, kafka]", "[slack]"))
    token = "T000/B000/xoxb-never-logged"
    with webhook_server(secret=None) as slack, webhook_server(secret=None, fail_first=99) as broken:
        settings = configure(any_settings, rules, {"slack": {"url": f"{url_of(slack)}/{token}"}})
        seed(settings, range(1, 15))
        assert evaluate_alarms(settings, at(15)).sent == 2
        failing = configure(any_settings, rules, {"slack": {"url": f"{url_of(broken)}/{token}"}})
        rules.write_text(RULES.replace("[log, email, webhook, kafka]", "[slack]\n    repeat_actions: true"))
        result = evaluate_alarms(failing, at(16))
    assert sorted(body["text"].splitlines()[0] for body in slack.received) == [
        ":rotating_light: *ALARM critical: team-budget [forecast 100%] project web [p-web]*",
        ":rotating_light: *ALARM moderate: team-budget [actual 80%] project web [p-web]*",
    ]
    outcomes = [(d.ok, d.attempts, d.error) for d in result.deliveries]
    assert outcomes == [(False, 3, "slack: HTTP 503 from 127.0.0.1")] * 2
    history = alarm_history(settings, limit=100)
    assert token not in caplog.text and token not in history.to_json(date_format="iso")
