"""Findings as the reports show them: usage a price book could not price as usual.

`finding_lines(sums, names)` turns the store's sums (`stackledger.store.findings.FindingSum`, per
project, book, kind, service and subject) into `FindingLine`s with the project's name. Every
format states them next to the figures they qualify: an *unpriced* line is usage the book's total
leaves out (a public comparison then says so); a *base price* line is usage priced without an
attribute it should have had. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackledger.schema import UNALLOCATED_NAME
from stackledger.transforms.findings import UNPRICED, quantity_text

if TYPE_CHECKING:
    from stackledger.store.findings import FindingSum


@dataclass(frozen=True)
class FindingLine:
    """One project's findings of one book, kind, service and subject over the window."""

    project_id: str  # "" for unallocated usage
    project_name: str
    price_book: str
    kind: str  # transforms.findings.KINDS
    effect: str  # unpriced | base price
    service: str
    subject: str  # the flavor and its size, or the volume type id
    quantity: float  # in consumed_unit
    consumed_unit: str
    resources: int
    reason: str

    @property
    def unpriced(self) -> bool:
        """The book's total leaves this usage out (no cost line)."""
        return self.effect == UNPRICED

    @property
    def what(self) -> str:
        """'72 instance-hour of compute.instance'."""
        return f"{quantity_text(self.quantity)} {self.consumed_unit} of {self.service}"

    def text(self) -> str:
        """'72 instance-hour of compute.instance left unpriced (size unknown: (unnamed flavor), 1 resource)'."""
        effect = "left unpriced" if self.unpriced else f"priced at the {self.effect}"
        things = f"{self.resources} resource{'s' if self.resources != 1 else ''}"
        return f"{self.what} {effect} ({self.kind}: {self.subject}, {things})"


def finding_lines(sums: Iterable[FindingSum], names: Mapping[str, str]) -> tuple[FindingLine, ...]:
    """The findings with their projects' names (`names`: project id -> name; unallocated has its
    own), in report order: project name, then book, kind, service and subject."""
    return tuple(sorted((_line(found, names) for found in sums), key=_order))


def _line(found: FindingSum, names: Mapping[str, str]) -> FindingLine:
    project_id = found.project_id or ""
    return FindingLine(
        project_id=project_id, project_name=names.get(project_id, project_id or UNALLOCATED_NAME),
        price_book=found.price_book, kind=found.kind, effect=found.effect, service=found.service,
        subject=found.subject, quantity=found.quantity, consumed_unit=found.consumed_unit, resources=found.resources,
        reason=found.reason,
    )  # fmt: skip


def unpriced_by_row(findings: Iterable[FindingLine]) -> dict[tuple[str, str, str, str], float]:
    """(project id, service, price book, unit) -> the quantity that book left unpriced."""
    out: dict[tuple[str, str, str, str], float] = defaultdict(float)
    for line in findings:
        if line.unpriced:
            out[(line.project_id, line.service, line.price_book, line.consumed_unit)] += line.quantity
    return dict(out)


def of_book(findings: Iterable[FindingLine], book: str, project_id: str | None = None) -> tuple[FindingLine, ...]:
    """The findings of one book (and one project, when given)."""
    return tuple(f for f in findings if f.price_book == book and (project_id is None or f.project_id == project_id))


def totals_by_book(findings: Iterable[FindingLine]) -> dict[str, tuple[FindingLine, ...]]:
    """Book -> its findings summed over projects (per kind, effect, service, subject and unit):
    what a book's grand total leaves out or priced without an attribute, cloud-wide."""
    groups: dict[tuple[str, ...], list[FindingLine]] = defaultdict(list)
    for line in findings:
        groups[(line.price_book, line.kind, line.effect, line.service, line.subject, line.consumed_unit)].append(line)
    out: dict[str, list[FindingLine]] = defaultdict(list)
    for (book, kind, effect, service, subject, unit), members in sorted(groups.items()):
        out[book].append(FindingLine(
            project_id="", project_name="", price_book=book, kind=kind, effect=effect, service=service,
            subject=subject, quantity=round(sum(m.quantity for m in members), 6), consumed_unit=unit,
            resources=sum(m.resources for m in members), reason=members[0].reason,
        ))  # fmt: skip
    return {book: tuple(lines) for book, lines in out.items()}


def _order(line: FindingLine) -> tuple[object, ...]:
    # Sorted in Python, not SQL: collations differ between SQLite and PostgreSQL.
    # Every field that tells two lines apart: ties would keep the database's order.
    return (line.project_id != "", line.project_name.casefold(), line.project_id, line.price_book, line.kind,
            line.service, line.subject, line.effect, line.consumed_unit, line.reason)  # fmt: skip
