"""Monthly reports at scale: a 200-project month, the finance summary and 200 project PDFs.

The month: 200 projects in 20 teams, each with two instances, a volume, a floating IP and an
image, rated daily on the internal rate card, AWS and DigitalOcean (about 280,000 cost lines),
budgets on every project, the previous month's internal cost (month over month) and a few
alarms. Prints the wall time of `render_reports(formats=["pdf", "projects"])` — the figure the
target (≤ 60 s) is about — with its parts, the CPU seconds of this process and its workers, and
the time of the other formats. SQLite, and PostgreSQL when STACKLEDGER_TEST_PG_URL is set.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy import create_engine, text

from benchmarks.common import emit, peak_rss_mib, timed
from stackledger.pipeline.report import render_reports
from stackledger.settings import Settings, load_settings
from stackledger.store import Store, tables
from stackledger.window import Window

PROJECTS: Final = 200
TEAMS: Final = 20
WINDOW: Final = Window.month("2026-10")
TARGET_S: Final = 60.0
# price book, currency, its cost as a multiple of the internal cost (baselines converted into EUR)
BOOKS: Final = (("internal", "EUR", Decimal(1)), ("aws", "EUR", Decimal("1.9")),
                ("digitalocean", "EUR", Decimal("0.8")))  # fmt: skip
# resource kind -> (resource type, services with their daily quantity and internal unit price)
KINDS: Final = {
    "vm": ("instance", (("compute.instance", "instance-hour", 24, "0"), ("compute.vcpu", "vCPU-hour", 96, "0.021"),
                        ("compute.ram", "GiB-hour", 192, "0.004"), ("compute.disk.root", "GiB-hour", 1920, "0.00007"),
                        ("network.egress", "GiB", 3.5, "0.05"), ("network.ingress", "GiB", 9.0, "0"))),
    "vol": ("volume", (("block.volume", "GiB-hour", 4800, "0.00008"),)),
    "fip": ("floating_ip", (("network.floating_ip", "IP-hour", 24, "0.004"),)),
    "img": ("image", (("image.storage", "GiB-hour", 480, "0.00003"),)),
}  # fmt: skip
RESOURCES: Final = (("vm", "api"), ("vm", "worker"), ("vol", "data"), ("fip", "ip"), ("img", "golden"))


def project_rows() -> list[dict[str, Any]]:
    names = ("Ærø analytics", "Müller-Lüdenscheidt", "数据平台", "web shop", "batch")
    return [
        {"project_id": f"p{n:03d}", "name": f"{names[n % len(names)]} {n:03d}", "team": f"team-{n % TEAMS:02d}",
         "cost_center": f"{4000 + n % TEAMS}", "budget_amount": Decimal(180 + (n * 37) % 400),
         "budget_currency": "EUR", "budget_period": "month", "source": "bench"}
        for n in range(PROJECTS)
    ]  # fmt: skip


def cost_rows() -> list[dict[str, Any]]:
    lines = []
    for n in range(PROJECTS):
        scale = Decimal(1 + n % 7) / 4
        for r, (kind, name) in enumerate(RESOURCES):
            resource_type, services = KINDS[kind]
            for service, unit, quantity, price in services:
                for day in WINDOW.days():
                    wobble = Decimal(100 + (n * 13 + r * 7 + day.start.day * 3) % 23) / 100
                    internal = (Decimal(str(quantity)) * Decimal(price) * scale * wobble).quantize(Decimal("1e-6"))
                    for book, currency, factor in BOOKS:
                        lines.append({
                            "charge_period_start": day.start, "charge_period_end": day.end, "project_id": f"p{n:03d}",
                            "resource_id": f"r{n:03d}-{name}", "resource_type": resource_type, "service": service,
                            "flavor_name": "m1.large" if kind == "vm" else "", "consumed_quantity": float(quantity),
                            "consumed_unit": unit, "price_book": book, "sku": f"{book}:{service}",
                            "list_unit_price": Decimal(price), "pricing_quantity": Decimal(str(quantity)),
                            "pricing_unit": unit, "cost": (internal * factor).quantize(Decimal("1e-6")),
                            "currency": currency, "price_as_of": dt.date(2026, 1, 1),
                        })  # fmt: skip
    previous = WINDOW.previous_month()
    for n in range(PROJECTS):  # last month: one internal line per project and day (month over month)
        for day in previous.days():
            lines.append({
                "charge_period_start": day.start, "charge_period_end": day.end, "project_id": f"p{n:03d}",
                "resource_id": f"r{n:03d}-api", "resource_type": "instance", "service": "compute.vcpu",
                "flavor_name": "m1.large", "consumed_quantity": 96.0, "consumed_unit": "vCPU-hour",
                "price_book": "internal", "sku": "internal:compute.vcpu", "list_unit_price": Decimal("0.021"),
                "pricing_quantity": Decimal(96), "pricing_unit": "vCPU-hour",
                "cost": Decimal(5 + n % 11) + Decimal("0.123456"), "currency": "EUR",
                "price_as_of": dt.date(2026, 1, 1),
            })  # fmt: skip
    return lines


def resource_rows() -> list[dict[str, Any]]:
    return [
        {"resource_id": f"r{n:03d}-{name}", "valid_from": dt.datetime(2026, 1, 1), "resource_type": KINDS[kind][0],
         "project_id": f"p{n:03d}", "name": f"{name}-{n:03d}", "flavor_name": "m1.large" if kind == "vm" else None,
         "size_gib": 200.0 if kind == "vol" else None, "volume_type": "ssd" if kind == "vol" else None,
         "source": "bench"}
        for n in range(PROJECTS) for kind, name in RESOURCES
    ]  # fmt: skip


def alarm_rows() -> list[dict[str, Any]]:
    at = dt.datetime(2026, 10, 20, 6)
    return [
        {"at": at, "recorded_at": at, "rule": "monthly-budget", "condition": "actual 80%",
         "scope_key": f"project:p{n:03d}", "alarm_id": f"00000000-0000-0000-0000-{n:012d}", "event": "transition",
         "previous": "ok", "current": "alarm", "severity": "moderate",
         "reason": "month-to-date cost 81% of the budget"}
        for n in range(0, PROJECTS, 9)
    ]  # fmt: skip


def seed(store: Store) -> int:
    lines = cost_rows()
    with store.transaction() as conn:
        store.insert(conn, tables.projects, project_rows())
        store.insert(conn, tables.resources, resource_rows())
        store.insert(conn, tables.cost_lines, lines)
        store.insert(conn, tables.alarm_history, alarm_rows())
    return len(lines)


def run(label: str, url: str, out: Path) -> None:
    store = Store(url)
    store.upgrade()
    with timed() as seeding:
        count = seed(store)
    settings = load_settings(None, {"STACKLEDGER__DATABASE__URL": url,
                                    "STACKLEDGER__REPORT__ORGANISATION": "Benchmark Cloud"})  # fmt: skip
    context = {"db": label, "projects": PROJECTS, "cost_lines": count, "workers": _workers(settings)}
    emit("reports", "seed_seconds", seeding.seconds, "s", **context)
    cpu, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with timed() as pdfs:
        paths = render_reports(settings, WINDOW, ["pdf", "projects"], out / label)
    cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    assert len(paths) == PROJECTS + 1, len(paths)
    emit("reports", "summary_and_project_pdfs_seconds", pdfs.seconds, "s", files=len(paths),
         within_target=pdfs.seconds <= TARGET_S, target_s=TARGET_S, **context)  # fmt: skip
    emit("reports", "pdf_cpu_seconds", cpu + worker_cpu, "s", main=round(cpu, 2), workers_cpu=round(worker_cpu, 2),
         **context)  # fmt: skip
    emit("reports", "summary_pdf_bytes", paths[0].stat().st_size, "B", **context)
    with timed() as exports:
        render_reports(settings, WINDOW, ["csv", "xlsx", "focus", "json"], out / label)
    emit("reports", "exports_seconds", exports.seconds, "s", formats="csv,xlsx,focus,json", **context)
    emit("reports", "peak_rss", peak_rss_mib(), "MiB", **context)


def _workers(settings: Settings) -> int:
    return settings.report.workers or min(os.cpu_count() or 1, 4)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run("sqlite", f"sqlite:///{out / 'bench.db'}", out)
        pg = os.environ.get("STACKLEDGER_TEST_PG_URL")
        if pg:
            engine = create_engine(pg)
            with engine.begin() as conn:  # a scratch schema, so the test database is left alone
                conn.execute(text("DROP SCHEMA IF EXISTS bench_reports CASCADE"))
                conn.execute(text("CREATE SCHEMA bench_reports"))
            engine.dispose()
            try:
                run("postgresql", pg + ("&" if "?" in pg else "?") + "options=-csearch_path%3Dbench_reports", out)
            finally:
                engine = create_engine(pg)
                with engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA bench_reports CASCADE"))
                engine.dispose()


if __name__ == "__main__":
    main()
