"""The report emails already sent, so `report --email` sends each recipient a window's documents once.

`tables.report_deliveries` holds one row per recipient of every report email sent, written
right after the SMTP server accepted that message and before the next one is sent. A run that
stops half way (a crash, an SMTP server refusing one recipient) has recorded everything that
went out except at most the message in flight, so a re-run or an Airflow retry sends only the
rest.

Before sending, each recipient's latest delivery of the same kind (finance or team-lead) for
the window decides:
- same digest (the sha256 of the attachments; the PDFs and XLSX are byte-deterministic):
  skipped, they already have these documents;
- another digest: the figures changed since — they get the new documents as a correction
  (subject "Corrected: …", a first line saying which sending it replaces);
- none: sent.
`resend=True` sends everything again (recorded like any other delivery).

Deciding and sending run under a lock named for the window (`stackledger.store.locks`), so a
second run started while one is sending waits, then skips what the first recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackledger.errors import StoreError
from stackledger.store import Store
from stackledger.store.deliveries import record_sent, sent_messages
from stackledger.window import utcnow

if TYPE_CHECKING:
    from stackledger.reports.mail import Delivery, Outgoing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Previous:
    """A recipient's latest delivery of one kind of message for the window."""

    digest: str
    sent_at: dt.datetime


@dataclass(frozen=True)
class Skipped:
    """A message some recipients were not sent again: they already have its documents."""

    audience: str
    recipients: tuple[str, ...]
    sent_at: dt.datetime  # when the latest of them received them


class DeliveryLog:
    """The deliveries of one window (`Window.label`) in the store."""

    def __init__(self, store: Store, window_label: str) -> None:
        self.store = store
        self.window_label = window_label

    def latest(self) -> dict[tuple[str, str], Previous]:
        """(kind, recipient) -> their latest delivery for the window."""
        found = sent_messages(self.store, self.window_label)  # oldest first: the latest wins below
        return {(row.kind, row.recipient): Previous(row.digest, row.sent_at) for row in found}

    def record(self, delivery: Delivery) -> None:
        """Store a message just sent, one row per recipient."""
        now = utcnow()
        rows = [
            {"window_label": self.window_label, "kind": delivery.kind, "recipient": who, "digest": delivery.digest,
             "audience": delivery.audience, "attachments": list(delivery.attachments),
             "message_id": delivery.message_id, "sent_at": now}
            for who in delivery.recipients
        ]  # fmt: skip
        try:
            with self.store.transaction() as conn:
                record_sent(conn, rows)
        except StoreError as error:
            raise StoreError(
                f"the report email to {', '.join(delivery.recipients)} ({delivery.audience}) was sent but could not "
                f"be recorded, so no further message was sent (a re-run sends that one again): {error}"
            ) from error


def still_to_send(
    window_label: str, messages: Sequence[Outgoing], latest: dict[tuple[str, str], Previous], *, resend: bool = False
) -> tuple[list[Outgoing], list[Skipped]]:
    """The messages (or parts of them) to send: for each recipient, nothing if they already have
    these documents, a correction if they received others, the message if they received nothing."""
    todo: list[Outgoing] = []
    skipped: list[Skipped] = []
    for outgoing in messages:
        before = {who: latest.get((outgoing.kind, who)) for who in outgoing.recipients}
        have = [who for who, prev in before.items() if prev is not None and prev.digest == outgoing.digest]
        changed = [who for who, prev in before.items() if prev is not None and prev.digest != outgoing.digest]
        new = [who for who, prev in before.items() if prev is None]
        if resend:
            new, have = new + have, []
        if have:
            sent_at = max(prev.sent_at for who, prev in before.items() if prev is not None and who in have)
            skipped.append(Skipped(outgoing.audience, tuple(have), sent_at))
            log.info("report %s: %s (%s) already received these documents on %s UTC: not sent again", window_label,
                     outgoing.audience, ", ".join(have), f"{sent_at:%Y-%m-%d %H:%M}")  # fmt: skip
        if new:
            todo.append(outgoing.to_only(new))
        if changed:
            since = max(prev.sent_at for who, prev in before.items() if prev is not None and who in changed)
            log.info("report %s: the %s documents changed since they were sent to %s on %s UTC: sending the "
                     "corrected ones", window_label, outgoing.audience, ", ".join(changed),
                     f"{since:%Y-%m-%d %H:%M}")  # fmt: skip
            todo.append(outgoing.correction(changed, since))
    return todo, skipped
