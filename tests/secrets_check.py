"""Finding secrets where they must not be: in output, logs, files (PDF text, XLSX, gzip) and the
database. Used by tests/integration/test_secrets.py; tests/unit/test_redact.py shows it catches a
planted leak in each kind of place, so a clean result means something."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from sqlalchemy import create_engine, select

from stackledger.store import tables


@dataclass(frozen=True)
class Leak:
    secret: str  # the name of the secret (which setting)
    where: str  # which output, file or table
    found: str  # the form found (as written, percent-encoded …)


def variants(secret: str, users: Iterable[str] = ()) -> list[str]:
    """The forms a secret takes on its way out: as written, percent-encoded (URLs, forms),
    JSON-escaped, and HTTP basic auth's base64 of `user:secret` for each of `users`."""
    forms = [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]]
    forms += [base64.b64encode(f"{user}:{secret}".encode()).decode() for user in users]
    return list(dict.fromkeys(forms))


def find_leaks(texts: Mapping[str, str], secrets: Mapping[str, str], users: Iterable[str] = ()) -> list[Leak]:
    """Every (secret, place) where a form of a secret appears in `texts` (place -> text)."""
    names = list(users)
    leaks = []
    for name, secret in secrets.items():
        for where, text in texts.items():
            found = next((form for form in variants(secret, names) if form in text), None)
            if found is not None:
                leaks.append(Leak(name, where, found))
    return leaks


def file_text(path: Path) -> str:
    """What a reader of the file sees: PDF text (pdftotext), the members of a zip (XLSX), gzip
    content, else the bytes as text (binary files such as SQLite databases included)."""
    data = path.read_bytes()
    if data[:4] == b"%PDF":
        return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(path) as archive:
            return "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def files_text(root: Path) -> dict[str, str]:
    """`file_text` of every file under `root`, by path."""
    return {str(path): file_text(path) for path in sorted(root.rglob("*")) if path.is_file()}


def database_text(url: str) -> dict[str, str]:
    """Every row of every StackLedger table, as text, by table name."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: "\n".join(repr(tuple(row)) for row in conn.execute(select(table)))
                    for table in tables.metadata.sorted_tables}  # fmt: skip
    finally:
        engine.dispose()


__all__ = ["Leak", "database_text", "file_text", "files_text", "find_leaks", "variants"]
