"""Real Airflow 3 for the DAG tests: a throwaway AIRFLOW_HOME (never ~/airflow), its SQLite
metadata database migrated once per session with `airflow db migrate`, example DAGs off, and the
DAGs folder set to airflow_dags/.

Airflow reads its configuration when it is first imported, so no module here imports it at
module level: the session fixture sets the environment first, and tests import Airflow inside.
StackLedger's own settings reach the tasks the way they do in production, through the Airflow
Variable `stackledger_config` (here as the environment variable AIRFLOW_VAR_STACKLEDGER_CONFIG).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from stackledger.pipeline.base import store_for
from stackledger.settings import Settings, load_settings
from stackledger.store import tables
from tests.conftest import REPO

DAGS = REPO / "airflow_dags"
CLOUD = "stackledger-test"  # the clouds.yaml entry ops/keystone writes
GNOCCHI_POOL = "stackledger_gnocchi"
UTC = dt.UTC


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """AIRFLOW_HOME in a temporary folder, migrated once, with the Gnocchi pool created."""
    if "airflow" in sys.modules:
        pytest.fail("Airflow was imported before the airflow_home fixture set AIRFLOW_HOME", pytrace=False)
    home = tmp_path_factory.mktemp("airflow_home")
    patch = pytest.MonkeyPatch()
    environment = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    for name, value in environment.items():
        patch.setenv(name, value)
    airflow = Path(sys.executable).with_name("airflow")
    migrate = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600, check=False)
    if migrate.returncode:
        pytest.fail(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}", pytrace=False)
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(GNOCCHI_POOL, slots=2, description="StackLedger: Gnocchi load", include_deferred=False)
    yield home
    patch.undo()


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def dag_of(dagbag: Any) -> Any:
    def get(dag_id: str) -> Any:
        dag = dagbag.get_dag(dag_id)
        assert dag is not None, f"{dag_id} not in the DagBag: {dagbag.import_errors}"
        return dag

    return get


# ---------------------------------------------------------------- StackLedger settings for a run


@dataclass
class Deployment:
    """One test's StackLedger: its settings file, given to Airflow as the Variable."""

    path: Path
    settings: Settings

    @property
    def url(self) -> str:
        return self.settings.database.url


def write_config(folder: Path, config: Mapping[str, Any], name: str = "stackledger.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


@pytest.fixture
def deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_home: Path) -> Any:
    """deploy(config) → a Deployment: the YAML written, named by the Airflow Variable."""
    monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
    for name in [n for n in os.environ if n.startswith("STACKLEDGER__")]:
        monkeypatch.delenv(name)

    def make(config: Mapping[str, Any], folder: Path = tmp_path) -> Deployment:
        folder.mkdir(parents=True, exist_ok=True)
        base: dict[str, Any] = {
            "database": {"url": f"sqlite:///{folder / 'stackledger.db'}"},
            "report": {"out_dir": str(folder / "out")},
        }
        merged = {**base, **config}
        path = write_config(folder, merged)
        monkeypatch.setenv("AIRFLOW_VAR_STACKLEDGER_CONFIG", str(path))
        return Deployment(path, load_settings(path, {}))

    return make


def states(run: Any) -> dict[str, str]:
    """task id (with [map index] for mapped ones) -> final state."""
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = run.get_task_instances(session=session)
        return {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in instances}


def tries(run: Any, task_id: str) -> list[int]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return [ti.try_number for ti in run.get_task_instances(session=session) if ti.task_id == task_id]


# ---------------------------------------------------------------- what the store holds


def totals(settings: Settings) -> dict[str, Any]:
    """Every total a re-run or a backfill must leave unchanged."""
    store = store_for(settings)
    usage, cost, resources, projects, history = (
        tables.usage.c, tables.cost_lines.c, tables.resources.c, tables.projects.c, tables.alarm_history.c,
    )  # fmt: skip
    with store.engine.connect() as conn:
        by_service = conn.execute(
            select(usage.source, usage.service, func.count(), func.sum(usage.consumed_quantity))
            .group_by(usage.source, usage.service).order_by(usage.source, usage.service)
        ).all()  # fmt: skip
        by_book = conn.execute(
            select(cost.price_book, cost.currency, func.count(), func.sum(cost.cost))
            .group_by(cost.price_book, cost.currency).order_by(cost.price_book, cost.currency)
        ).all()  # fmt: skip
        return {
            "usage": [(src, svc, n, round(float(q), 6)) for src, svc, n, q in by_service],
            "cost": [(book, cur, n, str(c)) for book, cur, n, c in by_book],
            "resources": conn.execute(
                select(resources.source, func.count()).group_by(resources.source).order_by(resources.source)
            ).all(),
            "projects": conn.execute(select(func.count()).select_from(tables.projects)).scalar_one(),
            "project_ids": sorted(conn.execute(select(projects.project_id)).scalars()),
            "alarm_history": conn.execute(select(func.count()).select_from(tables.alarm_history)).scalar_one(),
            "notifications": conn.execute(
                select(func.count()).select_from(tables.alarm_history).where(history.event == "notification")
            ).scalar_one(),
        }


def checkpoints(settings: Settings) -> dict[str, int]:
    """checkpoint name -> hours its checkpoints cover."""
    table = tables.checkpoints.c
    with store_for(settings).engine.connect() as conn:
        rows = conn.execute(select(table.source, table.window_start, table.window_end)).all()
    covered: dict[str, int] = {}
    for source, start, end in rows:
        covered[source] = covered.get(source, 0) + int((end - start).total_seconds() // 3600)
    return covered
