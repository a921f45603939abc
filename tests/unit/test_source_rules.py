"""Rules about where code may live that the import contracts (`lint-imports`, pyproject's
[tool.importlinter]) cannot see: SQL is written only in `stackledger/store/`.

import-linter proves that nothing outside the store imports SQLAlchemy, psycopg or Alembic. This
also catches SQL that needs no import: a raw statement in a string, a COPY, a Session. A match is
an SQL builder call (`select(`, `text(`, `insert(` not preceded by a name, a dot or `def`), `Session`
(other than the HTTP sessions of requests and keystoneauth) or `COPY` as a word.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

SQL = re.compile(r"(?<![\w.])(?<!def )(select|text|insert)\(|(?<!requests\.)(?<!session\.)\bSession\b|\bCOPY\b")
STAGES = ("collectors", "transforms", "reports", "alarms", "airflow_dags")
ALLOWED = ("stackledger/store/", "stackledger/migrations/")


def python_files() -> list[Path]:
    spine = [p for p in (REPO / "stackledger").rglob("*.py") if not p.is_relative_to(REPO / "stackledger" / "data")]
    stages = [p for name in STAGES for p in (REPO / name).rglob("*.py")]
    # stackledger/<stage> are links to the top-level folders: read each file once, by its real path.
    return sorted({p.resolve() for p in [*spine, *stages]})


def test_sql_is_written_only_in_the_store() -> None:
    found = []
    for path in python_files():
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(ALLOWED):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SQL.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "SQL outside stackledger/store/:\n" + "\n".join(found)


def test_the_rule_sees_what_it_forbids() -> None:
    for line in ('query = select(table)', 'conn.execute(text("DELETE FROM x"))', "with Session(engine) as s:",
                 'cursor.copy("COPY samples FROM STDIN")', "stmt = insert(table)"):  # fmt: skip
        assert SQL.search(line), line
    for line in (
        "path.read_text()",
        "np.concatenate(parts)",
        "requests.Session()",
        "ks_session.Session(auth=a)",
        "pricebooks.rows_of(book)",
    ):
        assert not SQL.search(line), line
