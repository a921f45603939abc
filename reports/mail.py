"""The monthly reports by email: the finance summary to finance, each team's project PDFs to its lead.

`plan_messages` is pure: it decides who gets what and builds the MIME messages. A team lead's
message is built only from their own team's projects — its body lists those projects and its
attachments are their PDFs — so nothing of another team can be in it. Projects without a team,
or whose team has no lead configured, are reported back as unsent (and logged), never sent to
someone else. `send_messages` delivers over SMTP (plain, STARTTLS or SMTPS, optional login),
one connection per message; a message that fails does not stop the others, and the failures
are raised together at the end as a `ReportDeliveryError`.

Each message carries the `digest` of its documents (sha256 of the attachments' names and
bytes; the PDFs and the XLSX are byte-deterministic), so the caller can tell a message a
recipient already has from a corrected one (`stackledger.pipeline.deliveries`), and send a
message to some of its recipients only (`Outgoing.to_only`, `Outgoing.correction`).
"""

from __future__ import annotations

import copy
import datetime as dt
import email.policy
import hashlib
import logging
import smtplib
import socket
import ssl
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Final

from stackledger.errors import StackLedgerError
from stackledger.reports.formatting import amounts, money, percent, period_name, signed
from stackledger.reports.project import ProjectReport
from stackledger.reports.summary import FinanceSummary
from stackledger.settings import ReportEmailSettings, SmtpNotifierSettings

log = logging.getLogger(__name__)

_POLICY: Final = email.policy.SMTP.clone(max_line_length=998)
PDF: Final = ("application", "pdf")
XLSX: Final = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
FINANCE: Final = "finance"  # the message kinds
TEAM_LEAD: Final = "team-lead"


class ReportDeliveryError(StackLedgerError):
    """Some report emails could not be delivered; `failures` maps recipients to the reason."""

    def __init__(self, failures: Mapping[str, str], *, transient: bool) -> None:
        self.failures = dict(failures)
        self.transient = transient
        listed = "; ".join(f"{who}: {why}" for who, why in self.failures.items())
        super().__init__(f"{len(self.failures)} report email(s) not delivered: {listed}")


@dataclass(frozen=True)
class Outgoing:
    kind: str  # FINANCE or TEAM_LEAD
    audience: str  # "finance" or "team <name>[, <name>…]"
    recipients: tuple[str, ...]
    message: EmailMessage
    attachments: tuple[str, ...]  # file names
    digest: str  # of the attachments (`documents_digest`): the same documents, the same digest
    projects: tuple[str, ...] = ()  # project ids whose figures the message carries
    corrects: dt.datetime | None = None  # when the documents it replaces were sent (a correction)

    def to_only(self, recipients: Sequence[str]) -> Outgoing:
        """The same message for some of its recipients only."""
        if tuple(recipients) == self.recipients:
            return self
        message = copy.deepcopy(self.message)
        message.replace_header("To", ", ".join(recipients))
        message.replace_header("Message-ID", make_msgid(domain="stackledger"))
        return replace(self, recipients=tuple(recipients), message=message)

    def correction(self, recipients: Sequence[str], since: dt.datetime) -> Outgoing:
        """The message for `recipients`, who received other documents for the same period at `since`:
        its subject and first line say these replace them."""
        outgoing = self.to_only(recipients)
        message = copy.deepcopy(outgoing.message) if outgoing is self else outgoing.message
        subject = str(message["Subject"])
        message.replace_header("Subject", f"Corrected: {subject}")
        body = message.get_body(preferencelist=("plain",))
        if isinstance(body, EmailMessage):
            note = (f"These figures replace those sent on {since:%Y-%m-%d %H:%M} UTC: the data of the period "
                    "changed since.")  # fmt: skip
            body.set_content(f"{note}\n\n{body.get_content()}")
        return replace(outgoing, message=message, corrects=since)


@dataclass
class MailPlan:
    messages: list[Outgoing]
    unsent: dict[str, list[str]] = field(default_factory=dict)  # reason -> project names


@dataclass(frozen=True)
class Delivery:
    audience: str
    recipients: tuple[str, ...]
    subject: str
    attachments: tuple[str, ...]
    kind: str = FINANCE
    digest: str = ""
    message_id: str = ""
    corrects: dt.datetime | None = None  # when the documents this one replaces were sent


def plan_messages(
    summary: FinanceSummary, projects: Sequence[ProjectReport], *, summary_pdf: Path,
    project_pdfs: Mapping[str, Path], xlsx: Path | None, config: ReportEmailSettings, sender: str,
    organisation: str,
) -> MailPlan:  # fmt: skip
    period = period_name(summary.window)
    plan = MailPlan(messages=[])
    if config.finance:
        files = _read([summary_pdf, *([xlsx] if xlsx is not None else [])])
        subject = f"{config.subject_prefix} {organisation}: cloud costs {period} — finance summary".strip()
        body = _finance_body(summary, organisation, period, with_xlsx=xlsx is not None)
        message = _message(sender, config.finance, subject, body, files)
        plan.messages.append(Outgoing(FINANCE, "finance", tuple(config.finance), message, tuple(files),
                                      documents_digest(files)))  # fmt: skip
    else:
        log.warning("report email: report.email.finance is empty: the finance summary is not sent")
    by_lead: dict[str, list[ProjectReport]] = defaultdict(list)
    for report in projects:
        team = report.line.team
        if not team:
            plan.unsent.setdefault("no team", []).append(report.line.name)
        elif team not in config.team_leads:
            plan.unsent.setdefault(f"no lead configured for team {team}", []).append(report.line.name)
        else:
            by_lead[config.team_leads[team]].append(report)
    for address, mine in sorted(by_lead.items()):
        teams = sorted({report.line.team for report in mine})
        files = _read([project_pdfs[report.project_id] for report in mine])
        label = ", ".join(teams)
        subject = f"{config.subject_prefix} {organisation}: cloud costs {period} — team {label}".strip()
        body = _team_body(mine, summary.currency, organisation, period, label)
        message = _message(sender, [address], subject, body, files)
        projects_sent = tuple(report.project_id for report in mine)
        plan.messages.append(Outgoing(TEAM_LEAD, f"team {label}", (address,), message, tuple(files),
                                      documents_digest(files), projects_sent))  # fmt: skip
    for reason, names in plan.unsent.items():
        log.warning("report email: %d project PDF(s) not sent (%s)", len(names), reason)
    return plan


def documents_digest(files: Mapping[str, bytes]) -> str:
    """sha256 of the attachments, names and bytes, in name order: the same documents, the same digest."""
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def send_messages(
    smtp: SmtpNotifierSettings, messages: Sequence[Outgoing], on_sent: Callable[[Delivery], None] | None = None
) -> list[Delivery]:
    """Send each message on its own connection; raise ReportDeliveryError listing any that failed.

    `on_sent` is called with each delivery as soon as the server accepted it, before the next
    message is sent; what it raises stops the run."""
    sent: list[Delivery] = []
    failures: dict[str, str] = {}
    transient = True
    for outgoing in messages:
        try:
            _send(smtp, outgoing.message)
        except (smtplib.SMTPException, OSError) as error:
            who = ", ".join(outgoing.recipients)
            failures[who] = _describe(error, smtp)
            transient &= _is_transient(error)
            log.error("report email to %s (%s) failed: %s", who, outgoing.audience, failures[who])
            continue
        delivery = Delivery(outgoing.audience, outgoing.recipients, str(outgoing.message["Subject"]),
                            outgoing.attachments, outgoing.kind, outgoing.digest,
                            str(outgoing.message["Message-ID"]), outgoing.corrects)  # fmt: skip
        if on_sent is not None:
            on_sent(delivery)
        sent.append(delivery)
    if failures:
        raise ReportDeliveryError(failures, transient=transient)
    return sent


# ---------------------------------------------------------------- messages


def _read(paths: Sequence[Path]) -> dict[str, bytes]:
    """File name -> bytes, read once for both the message and its digest."""
    return {path.name: path.read_bytes() for path in paths}


def _message(sender: str, to: Sequence[str], subject: str, body: str, files: Mapping[str, bytes]) -> EmailMessage:
    mail = EmailMessage(policy=_POLICY)
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain="stackledger")
    mail.set_content(body)
    for name, data in files.items():
        kind = XLSX if name.endswith(".xlsx") else PDF
        mail.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=name)
    return mail


def _finance_body(summary: FinanceSummary, organisation: str, period: str, *, with_xlsx: bool) -> str:
    cur = summary.currency
    lines = [f"{organisation}: cloud costs {period}", ""]
    for total in summary.grand_totals:
        lines.append(f"Grand total (internal rate card): {total.currency} {money(total.amount)}")
    if summary.previous_totals and summary.change.difference is not None:
        lines.append(f"Change from the previous period: {signed(summary.change.difference)} {cur} "
                     f"({percent(summary.change.percent)})")  # fmt: skip
    for book, title in (("aws", "AWS"), ("digitalocean", "DigitalOcean")):
        figure = summary.comparison.total.books[book]
        if figure.amounts:
            lines.append(f"{title} for the same usage: {amounts(figure.amounts, cur)} "
                         f"{cur if set(figure.amounts) == {cur} else ''}".rstrip())  # fmt: skip
    counts = summary.budget_counts
    if counts:
        lines.append("Budgets: " + ", ".join(f"{count} {status}" for status, count in counts.items()))
    attached = "the finance summary (PDF) and the workbook (XLSX)" if with_xlsx else "the finance summary (PDF)"
    lines += ["", f"Attached: {attached}.", "", "-- ", "StackLedger"]
    return "\n".join(lines) + "\n"


def _team_body(reports: Sequence[ProjectReport], currency: str, organisation: str, period: str, teams: str) -> str:
    lines = [f"{organisation}: cloud costs {period} for team {teams}", ""]
    for report in reports:
        line = report.line
        budget = line.budget
        status = ""
        if budget is not None and budget.spent is not None:
            used = percent(budget.used_percent, sign=False)
            status = f" — {used} of a {money(budget.amount)} budget ({budget.status})"
        lines.append(f"- {line.name}: {amounts(line.cost, currency)} {currency}{status}")
    lines += ["", f"Attached: one PDF per project ({len(reports)}).", "", "-- ", "StackLedger"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- SMTP


def _send(config: SmtpNotifierSettings, message: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=str(config.ca_bundle) if config.ca_bundle else None)
    smtp: smtplib.SMTP
    if config.security == "ssl":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s, local_hostname=socket.getfqdn())
    with smtp:
        if config.security == "starttls":
            smtp.starttls(context=context)
        if config.username:
            smtp.login(config.username, config.password.get_secret_value() if config.password else "")
        smtp.send_message(message)


def _describe(error: BaseException, config: SmtpNotifierSettings) -> str:
    # Never the exception text of a login failure: some servers echo what was sent.
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"login refused by {config.host} ({error.smtp_code})"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"recipients refused: {sorted(error.recipients)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{config.host} replied {error.smtp_code}"
    return f"{type(error).__name__} talking to {config.host}:{config.port}"


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return not isinstance(error, smtplib.SMTPAuthenticationError | ssl.SSLCertVerificationError)
