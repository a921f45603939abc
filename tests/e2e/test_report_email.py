"""`stackledger report --email` against a real SMTP server (aiosmtpd on 127.0.0.1).

Finance gets the summary (PDF and XLSX); each team lead gets only the PDFs of their own team's
projects. The received MIME is parsed and every attachment read back with pdftotext: a lead's
message must carry nothing of another team — no other project's name, id or team.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from stackledger.cli import main
from stackledger.settings import Settings
from tests.e2e.test_report import CJK_NAME, MONTH, XSS_NAME, config, seed

SECRET = "s3cret-report-pw"  # noqa: S105 - a test server's password
FINANCE = ("finance@example.com", "controller@example.com")
LEADS = {"Nordic & Co": "nordic-lead@example.com", "data": "data-lead@example.com"}
# What each project's PDF and the team's message may mention; nothing of the others.
MARKERS = {
    "Nordic & Co": ("p-xss", XSS_NAME, "Nordic & Co"),
    "data": ("p-muller", "Müller Analytics", "team data"),
    "平台": ("p-cjk", CJK_NAME, "平台"),
    "": ("p-web", "web-shop", "p-not-in-keystone"),
}


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    options: dict[str, Any] = {}
    if tls is not None:
        def login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"reports", SECRET.encode())
            return AuthResult(success=ok)

        options = {"tls_context": tls, "require_starttls": True, "authenticator": login, "auth_required": True}
    controller = Controller(box, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def email_config(port: int, *, tls: str = "") -> str:
    leads = "".join(f"      '{team}': {address}\n" for team, address in LEADS.items())
    return (f"  email:\n    finance: [{', '.join(FINANCE)}]\n    team_leads:\n{leads}"
            f"    smtp:\n      host: 127.0.0.1\n      port: {port}\n      sender: reports@example.com\n{tls}")  # fmt: skip


def pdf_text(data: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"received-{name}"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {str(part.get_filename()): part.get_content() for part in message.iter_attachments()}


def test_finance_gets_the_summary_and_each_lead_only_their_own_projects(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    with smtp_server() as (box, port):
        cfg = config(any_settings, tmp_path, email_config(port))
        assert main(["--config", cfg, "report", "--month", MONTH, "--out", str(tmp_path / "out"), "--email"]) == 0
    printed = capsys.readouterr().out
    by_to = {tuple(sorted(rcpt)): message for rcpt, message in box.received}
    assert set(by_to) == {tuple(sorted(FINANCE)), ("nordic-lead@example.com",), ("data-lead@example.com",)}

    finance = by_to[tuple(sorted(FINANCE))]
    files = attachments(finance)
    assert sorted(files) == [f"stackledger-{MONTH}-summary.pdf", f"stackledger-{MONTH}.xlsx"]
    summary = pdf_text(files[f"stackledger-{MONTH}-summary.pdf"], tmp_path, "summary.pdf")
    assert "Grand total (internal rate card)" in summary and XSS_NAME in summary
    assert finance["From"] == "reports@example.com" and "finance summary" in str(finance["Subject"])

    for team, address in LEADS.items():
        message = by_to[(address,)]
        files = attachments(message)
        assert len(files) == 1 and MARKERS[team][0] in next(iter(files)), files
        texts = [pdf_text(data, tmp_path, f"{team}-{name}") for name, data in files.items()]
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        everything = " ".join([" ".join(t.split()) for t in texts] + [str(body.get_content()), str(message["Subject"])])
        assert MARKERS[team][1] in everything
        for other, markers in MARKERS.items():
            if other != team:
                leaked = [m for m in markers if m in everything]
                assert not leaked, f"{address} received {other!r} data: {leaked}"
    assert "not sent (no lead configured for team 平台)" in printed
    assert "not sent (no team)" in printed and "web-shop" in printed


def test_starttls_and_login(sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(sqlite_settings)
    tls, ca_file = self_signed(tmp_path)
    extra = (f"      security: starttls\n      ca_bundle: {ca_file}\n      username: reports\n"
             f"      password: {SECRET}\n")  # fmt: skip
    with smtp_server(tls) as (box, port):
        cfg = config(sqlite_settings, tmp_path, email_config(port, tls=extra))
        assert main(["--config", cfg, "report", "--month", MONTH, "--out", str(tmp_path / "out"), "--email"]) == 0
    assert len(box.received) == 3
    assert SECRET not in capsys.readouterr().out


def test_a_wrong_password_is_an_error_that_names_no_secret(sqlite_settings: Settings, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    seed(sqlite_settings)
    tls, ca_file = self_signed(tmp_path)
    extra = f"      security: starttls\n      ca_bundle: {ca_file}\n      username: reports\n      password: wrong-pw\n"
    with smtp_server(tls) as (box, port):
        cfg = config(sqlite_settings, tmp_path, email_config(port, tls=extra))
        assert main(["--config", cfg, "report", "--month", MONTH, "--out", str(tmp_path / "out"), "--email"]) == 2
    error = capsys.readouterr().err
    assert "3 report email(s) not delivered" in error and "wrong-pw" not in error
    assert box.received == []


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file a client verifies it with."""
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
