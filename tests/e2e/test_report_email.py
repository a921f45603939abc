"""`stackledger report --email` against a real SMTP server (aiosmtpd on 127.0.0.1).

Finance gets the summary (PDF and XLSX); each team lead gets only the PDFs of their own team's
projects. The received MIME is parsed and every attachment read back with pdftotext: a lead's
message must carry nothing of another team — no other project's name, id or team.
"""

from __future__ import annotations

import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from stackledger.cli import main
from stackledger.settings import Settings
from tests.e2e.test_report import CJK_NAME, MONTH, XSS_NAME, config, seed

# The alarm engine's tests run the same receiver: aiosmtpd on 127.0.0.1, STARTTLS with a self-signed
# certificate and a login (user "alarms", SMTP_PASSWORD) when given a TLS context.
from tests.integration.test_alarm_delivery import SMTP_PASSWORD, Mailbox, self_signed, smtp_server

FINANCE = ("finance@example.com", "controller@example.com")
LEADS = {"Nordic & Co": "nordic-lead@example.com", "data": "data-lead@example.com"}
# What each project's PDF and the team's message may mention; nothing of the others.
MARKERS = {
    "Nordic & Co": ("p-xss", XSS_NAME, "Nordic & Co"),
    "data": ("p-muller", "Müller Analytics", "team data"),
    "平台": ("p-cjk", CJK_NAME, "平台"),
    "": ("p-web", "web-shop", "p-not-in-keystone"),
}


def email_config(port: int, *, tls: str = "") -> str:
    leads = "".join(f"      '{team}': {address}\n" for team, address in LEADS.items())
    smtp = f"    smtp:\n      host: 127.0.0.1\n      port: {port}\n      sender: reports@example.com\n{tls}"
    return f"  email:\n    finance: [{', '.join(FINANCE)}]\n    team_leads:\n{leads}{smtp}"


def pdf_text(data: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"received-{name}"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def received(box: Mailbox) -> dict[tuple[str, ...], EmailMessage]:
    """The messages by their envelope recipients (sorted)."""
    out = {}
    for (_sender, rcpt), message in zip(box.envelopes, box.messages, strict=True):
        assert isinstance(message, EmailMessage)
        out[tuple(sorted(rcpt))] = message
    return out


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
    by_to = received(box)
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
    extra = (f"      security: starttls\n      ca_bundle: {ca_file}\n      username: alarms\n"
             f"      password: {SMTP_PASSWORD}\n")  # fmt: skip
    with smtp_server(tls) as (box, port):
        cfg = config(sqlite_settings, tmp_path, email_config(port, tls=extra))
        assert main(["--config", cfg, "report", "--month", MONTH, "--out", str(tmp_path / "out"), "--email"]) == 0
    assert len(box.messages) == 3
    assert SMTP_PASSWORD not in capsys.readouterr().out


def test_a_wrong_password_is_an_error_that_names_no_secret(sqlite_settings: Settings, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    seed(sqlite_settings)
    tls, ca_file = self_signed(tmp_path)
    extra = f"      security: starttls\n      ca_bundle: {ca_file}\n      username: alarms\n      password: wrong-pw\n"
    with smtp_server(tls) as (box, port):
        cfg = config(sqlite_settings, tmp_path, email_config(port, tls=extra))
        assert main(["--config", cfg, "report", "--month", MONTH, "--out", str(tmp_path / "out"), "--email"]) == 2
    error = capsys.readouterr().err
    assert "3 report email(s) not delivered" in error and "wrong-pw" not in error
    assert box.messages == []
