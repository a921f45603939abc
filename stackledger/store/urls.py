"""Database URLs built from parts (an Airflow Connection's fields). To show one, use
`stackledger.redact.redact_url`: it masks the password of any URL, parsable or not."""

from __future__ import annotations

from sqlalchemy.engine import URL


def postgres_url(
    *, host: str | None, login: str | None, password: str | None, port: int | None, database: str | None
) -> str:
    """A `postgresql+psycopg://` URL from its parts, each quoted as URLs need (empty parts left out)."""
    url = URL.create("postgresql+psycopg", username=login or None, password=password or None, host=host or None,
                     port=port or None, database=database or None)  # fmt: skip
    return url.render_as_string(hide_password=False)


__all__ = ["postgres_url"]
