"""Database URLs: built from parts (an Airflow Connection's fields) and shown without secrets."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def postgres_url(
    *, host: str | None, login: str | None, password: str | None, port: int | None, database: str | None
) -> str:
    """A `postgresql+psycopg://` URL from its parts, each quoted as URLs need (empty parts left out)."""
    url = URL.create("postgresql+psycopg", username=login or None, password=password or None, host=host or None,
                     port=port or None, database=database or None)  # fmt: skip
    return url.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL with its password masked; `<unparsable URL>` when it cannot be read."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL fails later, with the store's own message
        return "<unparsable URL>"


__all__ = ["postgres_url", "redacted"]
