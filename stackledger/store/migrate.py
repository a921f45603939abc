"""Alembic, driven from code: no alembic.ini needed at run time.

Logging stays the caller's: nothing here (nor `migrations/env.py`) calls `fileConfig` or sets a
level, and the lines Alembic writes at INFO every time it opens a connection are DEBUG detail.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Said at INFO on every configure, whether or not anything migrates.
_DIALECT_LINES = ("Context impl ", "Will assume ")


class _DialectLinesAtDebug(logging.Filter):
    """Logs 'Context impl SQLiteImpl.' and 'Will assume non-transactional DDL.' at DEBUG, so
    INFO (`-v`) shows only the migrations that actually run ('Running upgrade … -> …')."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(_DIALECT_LINES):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


logging.getLogger("alembic.runtime.migration").addFilter(_DialectLinesAtDebug())


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
