"""Report deliveries: the report emails sent, one `report_deliveries` row per recipient.

`stackledger.pipeline.deliveries` decides from `sent_messages` who still needs a window's documents
and records each message with `record_sent` as soon as the SMTP server accepted it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from stackledger.store import Store
from stackledger.store.tables import report_deliveries


class SentRecord(NamedTuple):
    kind: str  # finance | team-lead
    recipient: str
    digest: str  # sha256 of the attachments
    sent_at: dt.datetime  # naive UTC


def sent_messages(store: Store, window_label: str) -> list[SentRecord]:
    """Every delivery of the window (`Window.label`), oldest first (ties in the order recorded)."""
    c = report_deliveries.c
    query = (
        select(c.kind, c.recipient, c.digest, c.sent_at).where(c.window_label == window_label).order_by(c.sent_at, c.id)
    )
    with store.engine.connect() as conn:
        return [SentRecord(*row) for row in conn.execute(query)]


def record_sent(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows of `report_deliveries` (window_label, kind, recipient, digest, audience,
    attachments, message_id, sent_at), in the caller's transaction."""
    if rows:
        conn.execute(report_deliveries.insert(), list(rows))


__all__ = ["SentRecord", "record_sent", "sent_messages"]
