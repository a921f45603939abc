"""`stackledger report` end to end on SQLite and PostgreSQL: cost lines in; PDFs, CSV, XLSX, FOCUS and
JSON out.

The figures must reconcile to the cent: the grand total printed in the finance summary (the
internal price book) equals the CSV's internal rows, the XLSX, the FOCUS BilledCost and the JSON,
which equal the database's sum; and so does each public baseline's total. The cost lines are
chosen so that summing rounded rows would be off by cents: each line costs a fraction ending in 5
at the third decimal, so a renderer that rounds before summing fails here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook
from PIL import Image, ImageStat
from sqlalchemy import select

from stackledger.cli import main
from stackledger.pipeline import store_for
from stackledger.reports.csv_export import CSV_COLUMNS
from stackledger.settings import Settings
from stackledger.store import tables

MONTH = "2026-10"
XSS_NAME = "<script>alert(1)</script> Ærø"
CJK_NAME = "数据平台 中文"
FORMULA_NAME = '=HYPERLINK("http://x","y")'
PROJECTS: list[dict[str, Any]] = [
    {"project_id": "p-xss", "name": XSS_NAME, "team": "Nordic & Co", "cost_center": "4711", "source": "keystone",
     "budget_amount": Decimal("60000"), "budget_currency": "EUR", "budget_period": "month"},
    {"project_id": "p-cjk", "name": CJK_NAME, "team": "平台", "source": "keystone"},
    {"project_id": "p-muller", "name": "Müller Analytics", "team": "data", "source": "keystone",
     "budget_amount": Decimal("5000"), "budget_currency": "EUR", "budget_period": "month"},
    {"project_id": "p-web", "name": "web-shop", "team": None, "source": "keystone"},
]  # fmt: skip
UNKNOWN_PROJECT = "p-not-in-keystone"  # has cost lines but no projects row
SERVICES = (("compute.vcpu", "vCPU-hour"), ("compute.ram", "GiB-hour"), ("block.volume", "GiB-hour"),
            ("network.egress", "GiB"))  # fmt: skip
BOOKS = (("internal", "EUR"), ("aws", "USD"), ("digitalocean", "USD"))
BOOK_TITLES = {"aws": "AWS", "digitalocean": "DigitalOcean"}
GRAND_TOTAL = re.compile(r"Grand total \(internal rate card\)\s+([A-Z]{3}) ([\d,]+\.\d{2})")
BASELINE_TOTAL = re.compile(r"(AWS|DigitalOcean) list prices\s+([A-Z]{3}) ([\d,]+\.\d{2})")


def cost_lines() -> list[dict[str, Any]]:
    lines = []
    ids = [p["project_id"] for p in PROJECTS] + [UNKNOWN_PROJECT]
    for p, project_id in enumerate(ids):
        for s, (service, unit) in enumerate(SERVICES):
            for b, (book, currency) in enumerate(BOOKS):
                for day in (1, 2, 15, 31):
                    start = dt.datetime(2026, 10, day)
                    n = p * 1000 + s * 100 + b * 10 + day
                    lines.append({
                        "charge_period_start": start, "charge_period_end": start + dt.timedelta(days=1),
                        "project_id": project_id, "resource_id": f"r-{project_id}-{s}", "resource_type": "instance",
                        "service": service, "flavor_name": "", "consumed_quantity": 24.0 + n / 7,
                        "consumed_unit": unit, "price_book": book, "sku": f"{book}:{service}",
                        "list_unit_price": Decimal("0.0123456789"), "pricing_quantity": Decimal(24),
                        "pricing_unit": unit, "cost": Decimal(f"{n}.005{n % 1000:03d}"), "currency": currency,
                        "price_as_of": dt.date(2026, 1, 1),
                    })  # fmt: skip
    # Outside the month: must not be counted in October; the September line is "the previous month".
    outside = dict(lines[0], charge_period_start=dt.datetime(2026, 11, 1), charge_period_end=dt.datetime(2026, 11, 2))
    september = dict(lines[0], project_id="p-muller", resource_id="r-p-muller-0", cost=Decimal("1000.004999"),
                     charge_period_start=dt.datetime(2026, 9, 3),
                     charge_period_end=dt.datetime(2026, 9, 4))  # fmt: skip
    return [*lines, outside, september]


def resources() -> list[dict[str, Any]]:
    return [{"resource_id": f"r-{p['project_id']}-{s}", "valid_from": dt.datetime(2026, 1, 1),
             "resource_type": "instance", "project_id": p["project_id"], "name": f"vm {p['project_id']} {s}",
             "flavor_name": "m1.large", "source": "nova"} for p in PROJECTS for s in range(len(SERVICES))]  # fmt: skip


def seed(settings: Settings, projects: list[dict[str, Any]] = PROJECTS) -> None:
    store = store_for(settings)
    at = dt.datetime(2026, 10, 20, 6)
    keys = ("project_id", "name", "team", "cost_center", "budget_amount", "budget_currency", "budget_period", "source")
    with store.transaction() as conn:
        store.insert(conn, tables.projects, [{key: p.get(key) for key in keys} for p in projects])
        store.insert(conn, tables.cost_lines, cost_lines())
        store.insert(conn, tables.resources, resources())
        store.insert(conn, tables.dead_letters, [
            {"fingerprint": f"f{i}", "origin": "samples.jsonl", "location": f"line {i}", "payload": "{",
             "reason": f"not valid JSON (Expecting value at column {i})", "received_at": dt.datetime(2026, 10, 5)}
            for i in range(3)
        ])  # fmt: skip
        store.insert(conn, tables.alarm_history, [
            {"at": at, "recorded_at": at, "rule": "muller-budget", "condition": "actual 80%",
             "scope_key": "project:p-muller", "alarm_id": "a1", "event": "transition", "previous": "ok",
             "current": "alarm", "severity": "critical", "reason": "month-to-date cost is 91% of the budget"},
        ])  # fmt: skip


def config(settings: Settings, tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "stackledger.yaml"
    path.write_text(
        f"database:\n  url: {settings.database.url}\n"
        f"report:\n  organisation: Nordlys Cloud Ørsted\n  workers: 1\n{extra}",
        encoding="utf-8",
    )
    return str(path)


def report(cfg: str, out: Path, *formats: str, capsys: pytest.CaptureFixture[str]) -> list[Path]:
    args = ["--config", cfg, "report", "--month", MONTH, "--out", str(out)]
    for name in formats:
        args += ["--format", name]
    assert main(args) == 0
    return [Path(line) for line in capsys.readouterr().out.splitlines()]


def db_sums(settings: Settings) -> dict[tuple[str, str], Decimal]:
    """(price book, currency) -> exact sum of October's cost lines."""
    c = tables.cost_lines.c
    october = (c.charge_period_start >= dt.datetime(2026, 10, 1), c.charge_period_start < dt.datetime(2026, 11, 1))
    query = select(c.price_book, c.currency, c.cost).where(*october)
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with store_for(settings).engine.connect() as conn:
        for book, currency, cost in conn.execute(query):
            sums[(book, currency)] += Decimal(str(cost)).quantize(Decimal("0.000001"))
    return dict(sums)


def csv_sums(path: Path) -> dict[tuple[str, str], Decimal]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        sums[(row["price_book"], row["currency"])] += Decimal(row["cost"])
    return dict(sums)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def assert_pages_not_blank(path: Path, tmp_path: Path) -> int:
    folder = tmp_path / f"png-{path.stem}"
    folder.mkdir()
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(path), str(folder / "page")], check=True)
    images = sorted(folder.glob("page-*.png"))
    assert images, path
    for image in images:
        with Image.open(image) as opened:
            assert float(ImageStat.Stat(opened.convert("L")).var[0]) > 50, f"{path.name} {image.name} looks blank"
    return len(images)


def by_name(paths: list[Path], suffix: str) -> Path:
    (found,) = [p for p in paths if p.name.endswith(suffix)]
    return found


# ----------------------------------------------------------------------------- tests


def test_every_format_reconciles_to_the_cent_with_the_database(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    paths = report(config(any_settings, tmp_path), tmp_path / "out", capsys=capsys)  # default: every format
    expected = db_sums(any_settings)
    assert set(expected) == {("internal", "EUR"), ("aws", "USD"), ("digitalocean", "USD")}
    grand = expected[("internal", "EUR")]

    # CSV: one row per project, service and book; exact to the micro-unit
    csv_path = by_name(paths, f"stackledger-{MONTH}.csv")
    assert csv_sums(csv_path) == expected
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    rounded = sum((cents(Decimal(r["cost"])) for r in rows if r["price_book"] == "internal"), Decimal(0))
    assert rounded != cents(grand), "the data must catch rounding before summing"

    # FOCUS: BilledCost is the internal book; each comparison's cost rides on the rows as x_ columns
    focus = pd.read_csv(by_name(paths, "-focus.csv"), dtype=str, keep_default_na=False)
    focus_sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for book, cost, currency in (("internal", "BilledCost", "BillingCurrency"), ("aws", "x_AwsCost", "x_AwsCurrency"),
                                 ("digitalocean", "x_DigitalOceanCost", "x_DigitalOceanCurrency")):  # fmt: skip
        for value, code in zip(focus[cost], focus[currency], strict=True):
            if value:
                focus_sums[(book, code)] += Decimal(value)
    assert focus_sums == expected

    # XLSX: the summary's figures and the per-service rows
    book = load_workbook(by_name(paths, ".xlsx"), read_only=True)
    summary = {row[0]: row for row in book["Summary"].iter_rows(values_only=True) if row and row[0]}
    headline = summary["Grand total (internal rate card)"]
    assert (Decimal(str(headline[1])), headline[2]) == (grand, "EUR")
    for key, title in BOOK_TITLES.items():
        row = summary[f"{title} list prices, same usage"]
        assert (Decimal(str(row[1])), row[2]) == (expected[(key, "USD")], "USD")
    sheet = list(book["Cost by service"].iter_rows(values_only=True))
    assert sheet[0] == CSV_COLUMNS
    xlsx_sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in sheet[1:]:
        xlsx_sums[(row[4], row[8])] += Decimal(str(row[7]))
    assert xlsx_sums == expected

    # JSON: the same figures, as exact strings
    document = json.loads(by_name(paths, ".json").read_text(encoding="utf-8"))
    assert document["grand_total"] == [{"amount": f"{grand:f}", "currency": "EUR"}]
    assert {b["price_book"]: Decimal(b["amount"]) for b in document["baselines"]} == {
        "aws": expected[("aws", "USD")], "digitalocean": expected[("digitalocean", "USD")]}  # fmt: skip

    # PDF: the grand total is the internal book; each baseline printed apart, never added in
    text = pdf_text(by_name(paths, "-summary.pdf"))
    printed = GRAND_TOTAL.findall(text)
    assert printed == [("EUR", f"{cents(grand):,.2f}")]
    baselines = {(name, cur): amount(value) for name, cur, value in BASELINE_TOTAL.findall(text)}
    assert baselines == {(BOOK_TITLES[b], c): cents(v) for (b, c), v in expected.items() if b != "internal"}
    assert f"Total (internal rate card) {cents(grand):,.2f}" in " ".join(text.split())
    assert "Page 1 of" in text and "NORDLYS CLOUD ØRSTED" in text and "October 2026" in text
    assert "SYNTHETIC" not in text

    # names render as text: markup escaped, Nordic, German and Chinese letters shown
    assert XSS_NAME in text and CJK_NAME in text and "Müller Analytics" in text
    assert UNKNOWN_PROJECT in text and "not in the project inventory" in text
    # data quality and month over month from the store
    assert "3 messages received during the period" in " ".join(text.split())
    assert "No reconciliation against Nova is stored" in " ".join(text.split())
    assert "September 2026" in text
    assert assert_pages_not_blank(by_name(paths, "-summary.pdf"), tmp_path) >= 4

    # one PDF per project with its own total
    project_pdfs = [p for p in paths if p.parent.name == f"stackledger-{MONTH}-projects"]
    assert len(project_pdfs) == len(PROJECTS) + 1
    per_project = project_internal(any_settings)
    for path in project_pdfs:
        page = pdf_text(path)
        (project_id,) = [pid for pid in per_project if pid in path.name]
        total = re.search(r"Project total\s+([\d,]+\.\d{2})", page)
        assert total and amount(total.group(1)) == cents(per_project[project_id]), path.name
        assert_pages_not_blank(path, tmp_path)
    xss = pdf_text(next(p for p in project_pdfs if "p-xss" in p.name))
    assert XSS_NAME in xss and "team Nordic & Co" in xss
    muller = " ".join(pdf_text(next(p for p in project_pdfs if "p-muller" in p.name)).split())
    assert "muller-budget" in muller and "month-to-date cost is 91% of the budget" in muller
    assert XSS_NAME not in muller and CJK_NAME not in muller


def project_internal(settings: Settings) -> dict[str, Decimal]:
    october = [line for line in cost_lines() if line["charge_period_start"].month == 10]
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for line in october:
        if line["price_book"] == "internal":
            sums[line["project_id"]] += Decimal(str(line["cost"]))
    return dict(sums)


def test_two_runs_give_identical_bytes(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    cfg = config(any_settings, tmp_path)
    first = report(cfg, tmp_path / "one", capsys=capsys)
    second = report(cfg, tmp_path / "two", capsys=capsys)
    assert [p.name for p in first] == [p.name for p in second]
    suffixes = {p.suffix for p in first}
    assert {".pdf", ".csv", ".xlsx", ".json"} <= suffixes
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_workers_give_the_same_bytes_as_one_process(sqlite_settings: Settings, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from stackledger.reports import pdf

    seed(sqlite_settings)
    cfg = config(sqlite_settings, tmp_path)
    one = report(cfg, tmp_path / "one", "pdf,projects", capsys=capsys)
    Path(cfg).write_text(Path(cfg).read_text(encoding="utf-8").replace("workers: 1", "workers: 2"), encoding="utf-8")
    original = pdf.PARALLEL_MIN
    pdf.PARALLEL_MIN = 1  # five projects: force the worker processes
    try:
        two = report(cfg, tmp_path / "two", "pdf,projects", capsys=capsys)
    finally:
        pdf.PARALLEL_MIN = original
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_formula_text_is_neutralised_in_csv_and_xlsx(sqlite_settings: Settings, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    projects = [dict(PROJECTS[2], name=FORMULA_NAME, team="+team"), *PROJECTS[:2]]
    seed(sqlite_settings, projects)
    paths = report(config(sqlite_settings, tmp_path), tmp_path / "out", "csv,xlsx,focus", capsys=capsys)
    rows = list(csv.DictReader(io.StringIO(by_name(paths, f"{MONTH}.csv").read_text(encoding="utf-8"))))
    muller = [r for r in rows if r["project_id"] == "p-muller"]
    assert {r["project_name"] for r in muller} == {"'" + FORMULA_NAME} and {r["team"] for r in muller} == {"'+team"}
    book = load_workbook(by_name(paths, ".xlsx"))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "no cell may be a formula"
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert "'" + FORMULA_NAME in texts and FORMULA_NAME not in texts
    focus = pd.read_csv(by_name(paths, "-focus.csv"), dtype=str, keep_default_na=False)
    assert set(focus.loc[focus["SubAccountId"] == "p-muller", "SubAccountName"]) == {"'" + FORMULA_NAME}


def test_synthetic_banner_all_or_some(any_settings: Settings, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    mixed = [dict(p, source="synthetic") if p["project_id"] == "p-web" else p for p in PROJECTS]
    seed(any_settings, mixed)
    (pdf,) = report(config(any_settings, tmp_path), tmp_path / "out", "pdf", capsys=capsys)
    text = " ".join(pdf_text(pdf).split())
    assert "CONTAINS SYNTHETIC DATA" in text and "1 of 5 projects" in text
    assert "SYNTHETIC DEMO DATA" not in text


def test_all_synthetic_projects_carry_the_banner(sqlite_settings: Settings, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    synthetic = [dict(p, source="synthetic") for p in PROJECTS]
    synthetic.append({"project_id": UNKNOWN_PROJECT, "name": "ghost", "team": None, "source": "synthetic"})
    seed(sqlite_settings, synthetic)
    paths = report(config(sqlite_settings, tmp_path), tmp_path / "out", "pdf,projects", capsys=capsys)
    for path in paths:
        assert "SYNTHETIC DEMO DATA" in pdf_text(path), path.name


def test_unknown_format_lists_the_valid_ones(
    sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", config(sqlite_settings, tmp_path), "report", "--month", MONTH, "--format", "pdf,docx"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "'docx'" in error
    valid = error.rsplit("valid: ", 1)[1].strip().split(", ")
    assert {"csv", "pdf", "projects", "xlsx", "focus", "json"} == set(valid) and valid == sorted(valid)
    assert not (tmp_path / "out").exists()


def test_a_month_in_progress_shows_the_forecast(sqlite_settings: Settings, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    store = store_for(sqlite_settings)
    days = [dt.datetime(2026, 10, day) for day in range(1, 11)]  # rated through 10 October
    with store.transaction() as conn:
        store.insert(conn, tables.projects, [{**PROJECTS[2], "budget_amount": Decimal(500)}])
        store.insert(conn, tables.cost_lines, [
            dict(cost_lines()[0], project_id="p-muller", charge_period_start=day,
                 charge_period_end=day + dt.timedelta(days=1), cost=Decimal("20.000000"))
            for day in days
        ])  # fmt: skip
    paths = report(config(sqlite_settings, tmp_path), tmp_path / "out", "pdf,projects,json", capsys=capsys)
    text = " ".join(pdf_text(by_name(paths, "-summary.pdf")).split())
    assert "Month in progress." in text and "(10 of 31 days)" in text
    document = json.loads(by_name(paths, ".json").read_text(encoding="utf-8"))
    (muller,) = document["projects"]
    # the alarm engine's trailing mean: 200 spent + 20 a day × 21 days left
    assert muller["budget"]["forecast"] == "620.000000" and muller["budget"]["status"] == "forecast over"
    project = " ".join(pdf_text(next(p for p in paths if "p-muller" in p.name)).split())
    assert "the forecast to the end of the period at the recent daily pace (620.00 EUR)" in project
