"""`stackledger_monthly` end to end with `dag.test()` on real Airflow 3 and SQLite: October 2026 of
the synthetic cloud, collected and rated (through the pipeline), rendered and mailed to an SMTP
server (aiosmtpd) on 127.0.0.1.

The run of 2 November 06:00 UTC checks October is complete, renders it and sends the finance
summary and the team leads' PDFs; running it again writes the same bytes and changes no total.
An incomplete month (a day not collected, a day waiting for re-rating) renders and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import shutil
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import and_

from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import collect_range
from stackledger.pipeline.rate import rate_window
from stackledger.settings import load_settings
from stackledger.store import tables
from stackledger.window import Window
from tests.dags.conftest import UTC, states, totals, write_config

RUN_AT = dt.datetime(2026, 11, 2, 6, tzinfo=UTC)
OCTOBER = Window.month("2026-10")
BASE = {"usage": {"source": "synthetic"}, "airflow": {"sources": ["synthetic"], "report_formats": ["csv", "focus"]}}


@pytest.fixture(scope="module")
def october(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding October collected (checkpointed daily windows) and rated; copied per test."""
    folder = tmp_path_factory.mktemp("october")
    settings = load_settings(write_config(folder, {**BASE, "database": {"url": f"sqlite:///{folder / 'oct.db'}"}}), {})
    assert all(r.complete for r in collect_range(settings, ["synthetic"], OCTOBER))
    rate_window(settings, OCTOBER)
    store_for(settings).engine.dispose()
    return folder / "oct.db"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def copy_of(october: Path, folder: Path) -> str:
    target = folder / "stackledger.db"
    shutil.copyfile(october, target)
    return f"sqlite:///{target}"


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_renders_and_delivers_a_complete_month(
    dag_of: Any, deploy: Any, october: Path, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    mail = {"finance": ["finance@example.com"], "team_leads": {"payments": "lead-payments@example.com"},
            "smtp": {"host": "127.0.0.1", "port": port, "sender": "reports@example.com"}}  # fmt: skip
    deployment = deploy({**BASE, "database": {"url": copy_of(october, tmp_path)}, "report": {
        "out_dir": str(tmp_path / "out"), "email": mail}})  # fmt: skip
    before = totals(deployment.settings)
    dag = dag_of("stackledger_monthly")

    run = dag.test(logical_date=RUN_AT)
    assert states(run) == {"wait_complete": "success", "render": "success", "deliver": "success"}
    folder = tmp_path / "out" / "2026-10"
    written = digests(folder)
    expected = {"stackledger-2026-10.csv", "stackledger-2026-10-focus.csv", "stackledger-2026-10-summary.pdf"}
    assert expected <= set(written)
    assert sum(name.startswith("stackledger-2026-10-projects/") for name in written) == 12  # one per project
    recipients = sorted(str(m["To"]) for m in box.messages)
    assert recipients == ["finance@example.com", "lead-payments@example.com"]
    finance = next(m for m in box.messages if m["To"] == "finance@example.com")
    attached = {part.get_filename() for part in finance.iter_attachments()}
    assert "stackledger-2026-10-summary.pdf" in attached
    assert totals(deployment.settings) == before  # reporting writes files, never the store

    # The same month again (here without mail): the same bytes, the same totals.
    deploy({**BASE, "database": {"url": deployment.url}, "report": {"out_dir": str(tmp_path / "out")}})
    again = dag.test(logical_date=RUN_AT)
    assert states(again) == {"wait_complete": "success", "render": "success", "deliver": "skipped"}
    assert digests(folder) == written
    assert totals(deployment.settings) == before and len(box.messages) == 2


def test_an_incomplete_month_is_neither_rendered_nor_sent(
    dag_of: Any, deploy: Any, october: Path, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    mail = {"finance": ["finance@example.com"], "smtp": {"host": "127.0.0.1", "port": port}}
    deployment = deploy({**BASE, "database": {"url": copy_of(october, tmp_path)}, "report": {
        "out_dir": str(tmp_path / "out"), "email": mail}})  # fmt: skip
    store = store_for(deployment.settings)
    checkpoint = tables.checkpoints.c
    with store.transaction() as conn:  # the 20th was never collected, and a late sample marked the 9th
        conn.execute(
            tables.checkpoints.delete().where(
                and_(checkpoint.source == "synthetic", checkpoint.window_start == dt.datetime(2026, 10, 20))
            )
        )
        store.insert(conn, tables.rerate_days, [{"day": dt.date(2026, 10, 9), "marked_at": dt.datetime(2026, 11, 1)}])
    dag = dag_of("stackledger_monthly")
    sensor = dag.task_dict["wait_complete"]
    saved = sensor.poke_interval, sensor.timeout
    sensor.poke_interval, sensor.timeout = 1, 2  # the DAG waits up to a day; the test, two seconds
    try:
        run = dag.test(logical_date=RUN_AT)
    finally:
        sensor.poke_interval, sensor.timeout = saved
    assert states(run) == {"wait_complete": "failed", "render": "upstream_failed", "deliver": "upstream_failed"}
    assert box.messages == [] and not (tmp_path / "out").exists()
