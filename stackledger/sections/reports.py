"""Settings of the monthly reports and of sending them by email."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from stackledger.sections import Section
from stackledger.sections.alarms import SmtpNotifierSettings


class ReportSettings(Section):
    organisation: str = "Example Cloud"
    out_dir: Path = Path("out")
    # Processes rendering the project PDFs: 0 = one per CPU (at most 4); 1 = in the calling process.
    workers: int = Field(default=0, ge=0, le=32)
    # Compare instance-hours with Nova's os-simple-tenant-usage while rendering (`stackledger reconcile`,
    # needs the `openstack` section); off: the data-quality section says no reconciliation is stored.
    reconcile_nova: bool = False
    email: ReportEmailSettings | None = None  # `stackledger report --email`


class ReportEmailSettings(Section):
    """`stackledger report --email`: the finance summary to `finance`, each team's project PDFs to
    its lead, over SMTP. `smtp` is the server (host, port, security: none | starttls | ssl,
    username, password, sender, timeout_s, ca_bundle); without it, `alarms.notifiers.email`'s
    server is used. Its `recipients` are the alarm's and must stay empty here."""

    smtp: SmtpNotifierSettings | None = None
    finance: list[str] = Field(default_factory=list)  # To: of the finance summary
    team_leads: dict[str, str] = Field(default_factory=dict)  # team -> the lead's address
    subject_prefix: str = "[StackLedger]"
    attach_xlsx: bool = True  # the finance email carries the XLSX workbook too

    @model_validator(mode="after")
    def _recipients_here(self) -> ReportEmailSettings:
        if self.smtp is not None and self.smtp.recipients:
            raise ValueError("smtp.recipients is not used for reports: set report.email.finance and team_leads")
        return self
