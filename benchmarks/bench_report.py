"""Monthly report rendering: 200 projects × 12 services × 3 price books, daily cost lines.

Prints the time to query the report data, to write the CSV and to render the PDF, on
SQLite and (when STACKLEDGER_TEST_PG_URL is set) PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.common import emit, peak_rss_mib, timed
from reports.csv_export import write_csv
from reports.data import month_report_data
from reports.pdf import write_pdf
from stackledger.schema import SERVICES
from stackledger.store import Store, tables
from stackledger.window import Window

PROJECTS = 200
BOOKS = (("internal", "EUR"), ("aws", "USD"), ("digitalocean", "USD"))
WINDOW = Window.month("2026-10")


def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    projects = [
        {"project_id": f"p{n:03d}", "name": f"project {n:03d}", "team": f"team {n % 17}", "source": "bench"}
        for n in range(PROJECTS)
    ]
    lines = []
    for n, project in enumerate(projects):
        for s, service in enumerate(SERVICES.values()):
            for book, currency in BOOKS:
                for day in WINDOW.days():
                    cost = Decimal((n * 7919 + s * 104729 + day.start.day * 31) % 9_999_999).scaleb(-6)
                    lines.append({
                        "charge_period_start": day.start, "charge_period_end": day.end,
                        "project_id": project["project_id"], "resource_id": f"r{n}-{s}",
                        "resource_type": service.resource_type, "service": service.name, "flavor_name": "",
                        "consumed_quantity": 24.0, "consumed_unit": service.unit, "price_book": book,
                        "sku": service.name, "list_unit_price": Decimal("0.01"), "pricing_quantity": Decimal(24),
                        "pricing_unit": service.unit, "cost": cost, "currency": currency,
                    })  # fmt: skip
    return projects, lines


def run(label: str, url: str, out: Path) -> None:
    store = Store(url)
    store.upgrade()
    projects, lines = rows()
    with store.transaction() as conn:
        store.insert(conn, tables.projects, projects)
        store.insert(conn, tables.cost_lines, lines)
    context = {"db": label, "projects": PROJECTS, "services": len(SERVICES), "cost_lines": len(lines)}
    with timed() as query:
        data = month_report_data(store, WINDOW)
    with timed() as csv:
        write_csv(data, out / f"{label}.csv")
    cpu = time.process_time()  # the machine may be shared: CPU seconds are the steadier figure
    with timed() as pdf:
        write_pdf(data, out / f"{label}.pdf", organisation="Benchmark Cloud")
    cpu = time.process_time() - cpu
    emit("report", "query_seconds", query.seconds, "s", rows=len(data.rows), **context)
    emit("report", "csv_seconds", csv.seconds, "s", **context)
    emit("report", "pdf_seconds", pdf.seconds, "s", bytes=(out / f"{label}.pdf").stat().st_size, **context)
    emit("report", "pdf_cpu_seconds", cpu, "s", **context)
    emit("report", "peak_rss", peak_rss_mib(), "MiB", **context)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run("sqlite", f"sqlite:///{out / 'bench.db'}", out)
        pg = os.environ.get("STACKLEDGER_TEST_PG_URL")
        if pg:
            engine = create_engine(pg)
            with engine.begin() as conn:  # a scratch schema, so the test database is left alone
                conn.execute(text("DROP SCHEMA IF EXISTS bench_report CASCADE"))
                conn.execute(text("CREATE SCHEMA bench_report"))
            engine.dispose()
            try:
                run("postgresql", pg + ("&" if "?" in pg else "?") + "options=-csearch_path%3Dbench_report", out)
            finally:
                engine = create_engine(pg)
                with engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA bench_report CASCADE"))
                engine.dispose()


if __name__ == "__main__":
    main()
