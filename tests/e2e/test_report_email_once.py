"""`stackledger report --email` re-run: each recipient gets a month's documents once.

The same real SMTP server as tests/e2e/test_report_email.py (aiosmtpd on 127.0.0.1). A second
run sends nothing; `--resend` sends everything; a changed figure sends a correction to the
recipients whose documents changed; a recipient the server refused mid-run is the only one a
re-run sends to; two runs at once send each message once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from stackledger.cli import main
from stackledger.pipeline.base import store_for
from stackledger.pipeline.report import EmailResult, email_reports
from stackledger.settings import Settings, load_settings
from stackledger.store import tables
from stackledger.window import Window
from tests.e2e.test_report import MONTH, config, seed
from tests.e2e.test_report_email import FINANCE, email_config, received
from tests.integration.test_alarm_delivery import Mailbox, free_port, smtp_server

DATA_LEAD, NORDIC_LEAD = "data-lead@example.com", "nordic-lead@example.com"
EVERYONE = {tuple(sorted(FINANCE)), (DATA_LEAD,), (NORDIC_LEAD,)}


class Refusing(Mailbox):
    """A mailbox whose server refuses some recipients (a full mailbox, a typo in the config…)."""

    def __init__(self, refuse: set[str]) -> None:
        super().__init__()
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.2.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@contextmanager
def serving(box: Mailbox) -> Iterator[int]:
    """`box` behind a real SMTP server on 127.0.0.1; yields its port."""
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def refusing_server(refuse: set[str]) -> Iterator[tuple[Refusing, int]]:
    box = Refusing(refuse)
    with serving(box) as port:
        yield box, port


def email(cfg: str, tmp_path: Path, *extra: str) -> int:
    return main(["--config", cfg, "report", "--month", MONTH, "--out", str(tmp_path / "out"), "--email", *extra])


def logged(settings: Settings) -> list[tuple[str, str, str]]:
    c = tables.report_deliveries.c
    with store_for(settings).engine.connect() as conn:
        rows = conn.execute(select(c.window_label, c.kind, c.recipient).order_by(c.id))
        return [(str(w), str(k), str(r)) for w, k, r in rows]


def test_a_second_run_sends_nothing_and_resend_sends_all(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    with smtp_server() as (box, port):
        cfg = config(any_settings, tmp_path, email_config(port))
        assert email(cfg, tmp_path) == 0
        assert set(received(box)) == EVERYONE
        first = capsys.readouterr().out
        assert first.count("\nsent ") == 3 and "skipped" not in first
        assert sorted(logged(any_settings)) == sorted(
            [(MONTH, "finance", who) for who in FINANCE]
            + [(MONTH, "team-lead", DATA_LEAD), (MONTH, "team-lead", NORDIC_LEAD)]
        )

        assert email(cfg, tmp_path) == 0  # an Airflow retry, a second run by hand
        assert len(box.messages) == 3
        again = capsys.readouterr().out
        assert "\nsent " not in again
        assert f"skipped finance → {', '.join(FINANCE)}: already sent" in again
        assert f"skipped team data → {DATA_LEAD}" in again and f"skipped team Nordic & Co → {NORDIC_LEAD}" in again

        assert email(cfg, tmp_path, "--resend") == 0
        assert len(box.messages) == 6 and set(received(box)) == EVERYONE
        assert "skipped" not in capsys.readouterr().out
    assert len(logged(any_settings)) == 8  # every message sent is logged, once per recipient


def test_a_changed_figure_sends_a_correction(sqlite_settings: Settings, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    seed(sqlite_settings)
    with smtp_server() as (box, port):
        cfg = config(sqlite_settings, tmp_path, email_config(port))
        assert email(cfg, tmp_path) == 0
        capsys.readouterr()
        c = tables.cost_lines.c
        store = store_for(sqlite_settings)
        with store.transaction() as conn:  # a late sample re-rated one of Müller's days
            conn.execute(tables.cost_lines.update().where(c.project_id == "p-muller", c.price_book == "internal",
                                                          c.charge_period_start == dt.datetime(2026, 10, 2))
                         .values(cost=c.cost + 100))  # fmt: skip
        assert email(cfg, tmp_path) == 0
    printed = capsys.readouterr().out
    resent = box.messages[3:]
    to = {str(m["To"]) for m in resent}
    assert to == {", ".join(FINANCE), DATA_LEAD}, to  # the Nordic lead's PDF did not change
    assert all(str(m["Subject"]).startswith("Corrected: ") for m in resent)
    for message in resent:
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and "These figures replace those sent on" in str(body.get_content())
    assert printed.count("(corrects those sent") == 2
    assert f"skipped team Nordic & Co → {NORDIC_LEAD}" in printed


def test_a_rerun_after_a_refused_recipient_sends_only_the_missing_message(
    sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_settings)
    # Messages go out finance, data lead, Nordic lead: the one in the middle fails.
    with refusing_server({DATA_LEAD}) as (box, port):
        cfg = config(sqlite_settings, tmp_path, email_config(port))
        assert email(cfg, tmp_path) == 2
        assert set(received(box)) == {tuple(sorted(FINANCE)), (NORDIC_LEAD,)}
        error = capsys.readouterr().err
        assert "1 report email(s) not delivered" in error and DATA_LEAD in error
        box.refuse.clear()
        assert email(cfg, tmp_path) == 0
    assert len(box.messages) == 3 and str(box.messages[2]["To"]) == DATA_LEAD
    printed = capsys.readouterr().out
    assert f"sent team data → {DATA_LEAD}" in printed and printed.count("\nsent ") == 1
    assert printed.count("skipped ") == 2
    assert sorted(r for _w, _k, r in logged(sqlite_settings)) == sorted([*FINANCE, DATA_LEAD, NORDIC_LEAD])


class Holding(Mailbox):
    """A mailbox that keeps the first message's DATA waiting until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived, self.release = threading.Event(), threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_two_runs_at_once_send_each_message_once(
    any_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator's run while the monthly DAG's is sending: the second waits for the first, then
    finds everything recorded and sends nothing (without the lock both read "not sent yet")."""
    seed(any_settings)
    box = Holding()
    caplog.set_level(logging.INFO, logger="stackledger.store.locks")
    results: dict[str, EmailResult | BaseException] = {}

    def run(name: str, port: int) -> None:
        # The first run's message waits while the second renders: a generous SMTP timeout.
        smtp_timeout = "      timeout_s: 600\n"
        settings = load_settings(config(any_settings, tmp_path / name, email_config(port, tls=smtp_timeout)), {})
        try:
            results[name] = email_reports(settings, Window.month(MONTH), tmp_path / name / "out")
        except BaseException as error:  # reported by the assertions below
            results[name] = error

    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    with serving(box) as port:
        try:
            first = threading.Thread(target=run, args=("first", port))
            first.start()
            assert box.arrived.wait(120), "the first run never reached the SMTP server"
            second = threading.Thread(target=run, args=("second", port))
            second.start()
            deadline = dt.datetime.now() + dt.timedelta(seconds=120)
            while "waiting for another run holding report-email:" + MONTH not in caplog.text:
                assert dt.datetime.now() < deadline and second.is_alive(), f"the second run did not wait: {results}"
                threading.Event().wait(0.05)
            box.release.set()
            first.join(120)
            second.join(120)
        finally:
            box.release.set()
    done_first, done_second = results["first"], results["second"]
    assert isinstance(done_first, EmailResult) and isinstance(done_second, EmailResult), results
    assert len(done_first.deliveries) == 3 and done_second.deliveries == []
    assert sum(len(s.recipients) for s in done_second.skipped) == len(FINANCE) + 2
    assert len(box.messages) == 3 and set(received(box)) == EVERYONE
    assert len(logged(any_settings)) == len(FINANCE) + 2
