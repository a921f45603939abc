"""Alembic environment: the engine comes from `stackledger.store.migrate`.

No `fileConfig(config.config_file_name)` here, unlike Alembic's template: logging belongs to
the program that runs the migration (the CLI's -q/-v, Airflow's task log), and a fileConfig
would reset it (and show Alembic's INFO lines) on every command.
"""

from __future__ import annotations

from alembic import context

from stackledger.store.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
