"""Which report emails a run still has to send (stackledger.pipeline.deliveries.still_to_send)."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from stackledger.pipeline.deliveries import Previous, still_to_send
from stackledger.reports.mail import FINANCE, TEAM_LEAD, Outgoing, documents_digest

MONDAY = dt.datetime(2026, 11, 2, 6, 5)
SUMMARY = {"summary.pdf": b"%PDF-1.7 figures"}
DIGEST = documents_digest(SUMMARY)


def outgoing(kind: str, recipients: tuple[str, ...], files: dict[str, bytes]) -> Outgoing:
    message = EmailMessage()
    message["Subject"], message["Message-ID"] = "cloud costs October 2026", "<1@x>"
    message["To"] = ", ".join(recipients)
    message.set_content("Grand total: EUR 1.00\n")
    for name, data in files.items():
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return Outgoing(kind, kind, recipients, message, tuple(files), documents_digest(files))


def test_the_digest_is_of_names_and_bytes_in_any_order() -> None:
    assert documents_digest({"a.pdf": b"1", "b.pdf": b"2"}) == documents_digest({"b.pdf": b"2", "a.pdf": b"1"})
    assert documents_digest({"a.pdf": b"1"}) != documents_digest({"b.pdf": b"1"})
    assert documents_digest({"a.pdf": b"12"}) != documents_digest({"a.pdf1": b"2"})


def test_who_already_has_the_documents_is_skipped_and_a_new_recipient_is_sent_them() -> None:
    message = outgoing(FINANCE, ("cfo@example.com", "new@example.com"), SUMMARY)
    todo, skipped = still_to_send("2026-10", [message], {(FINANCE, "cfo@example.com"): Previous(DIGEST, MONDAY)})
    assert [(s.recipients, s.sent_at) for s in skipped] == [(("cfo@example.com",), MONDAY)]
    assert [t.recipients for t in todo] == [("new@example.com",)]
    assert todo[0].message["To"] == "new@example.com" and todo[0].message["Message-ID"] != "<1@x>"
    assert message.message["To"] == "cfo@example.com, new@example.com"  # the plan is left as it was


def test_other_documents_before_means_a_correction_and_the_kind_matters() -> None:
    lead = outgoing(TEAM_LEAD, ("cfo@example.com",), {"web.pdf": b"%PDF new"})
    latest = {(TEAM_LEAD, "cfo@example.com"): Previous("0" * 64, MONDAY), (FINANCE, "cfo@example.com"): Previous(
        DIGEST, MONDAY)}  # fmt: skip
    todo, skipped = still_to_send("2026-10", [lead, outgoing(FINANCE, ("cfo@example.com",), SUMMARY)], latest)
    assert [s.audience for s in skipped] == [FINANCE]
    [correction] = todo
    assert correction.corrects == MONDAY and str(correction.message["Subject"]).startswith("Corrected: ")
    body = correction.message.get_body(preferencelist=("plain",))
    assert body is not None and str(body.get_content()).startswith("These figures replace those sent on 2026-11-02")
    [attachment] = correction.message.iter_attachments()
    assert attachment.get_content() == b"%PDF new"


def test_resend_sends_to_everyone() -> None:
    message = outgoing(FINANCE, ("cfo@example.com",), SUMMARY)
    todo, skipped = still_to_send("2026-10", [message], {(FINANCE, "cfo@example.com"): Previous(DIGEST, MONDAY)},
                                  resend=True)  # fmt: skip
    assert skipped == [] and todo == [message]
