"""A real Airflow 3 deployment with the CeleryExecutor, for tests/dags/test_celery_distributed.py.

One `celery_airflow(...)` context is one throwaway deployment, the shape of a production one:

    airflow api-server                     (the REST API the test triggers runs through, and the
                                            Execution API the workers run tasks through)
    airflow scheduler                      (CeleryExecutor: sends task workloads to Redis)
    airflow dag-processor                  (parses airflow_dags/ into the metadata database)
    airflow celery worker -H w1-<tag>@%h   ┐ two workers on one queue, each running at most
    airflow celery worker -H w2-<tag>@%h   ┘ `concurrency` tasks at once

- metadata database and Celery result backend: a PostgreSQL database of this run's own on the
  ops cluster (CeleryExecutor cannot run on SQLite), dropped at the end;
- broker: the Redis from ops/redis.sh. Runs share it, so each run uses a queue of its own and
  worker names of its own, and deletes its queue's keys at the end;
- everything binds 127.0.0.1, and every process started here is stopped by its PID (then its own
  process group, for children a killed parent left behind) when the context ends.

The test process never imports Airflow for this: tests/dags/conftest.py has configured the
in-process Airflow for SQLite. We talk to the deployment through its CLI (`db migrate`) and its
REST API (a user of the simple auth manager with a password made for this run), and read its
metadata database and Celery's result table with plain SQL.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import REPO

AIRFLOW = Path(sys.executable).with_name("airflow")
API_USER = "stackledger"
DAGS = REPO / "airflow_dags"
GNOCCHI_POOL = "stackledger_gnocchi"
FINISHED = {"success", "failed"}
# Variables of the caller's environment that must not reach the deployment: the in-process
# Airflow of tests/dags/conftest.py (AIRFLOW_HOME, a SQLite metadata database) and StackLedger
# overrides of other tests. The deployment gets its StackLedger settings from the Variable only.
FOREIGN_PREFIXES = ("AIRFLOW", "STACKLEDGER__")
FOREIGN_NAMES = {"STACKLEDGER_CONFIG"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def scratch_database(base_url: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `base_url`; dropped (forced) afterwards."""
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Service:
    """One long-running Airflow process: its PID and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 60) -> str:
        text_ = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text_.splitlines()[-lines:])


@dataclass
class TaskRun:
    """A task instance as the metadata database and the Celery result backend recorded it."""

    dag_id: str
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    celery_id: str | None  # the Celery task id (task_instance.external_executor_id)
    worker: str | None  # the Celery worker that ran it (celery_taskmeta.worker, result_extended)

    @property
    def label(self) -> str:
        return f"{self.task_id}[{self.map_index}]" if self.map_index >= 0 else self.task_id


@dataclass
class CeleryAirflow:
    home: Path
    environment: dict[str, str]
    metadata: Engine
    queue: str
    workers: list[str]
    password: str = field(repr=False)
    services: list[Service] = field(default_factory=list)
    token: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return self.environment["AIRFLOW__API__BASE_URL"]

    # ------------------------------------------------------------ processes

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run one `airflow` CLI command to completion; its stdout, or an AssertionError with its output."""
        done = subprocess.run([str(AIRFLOW), *args], env=self.environment, cwd=self.home, capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip
        if done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")  # fmt: skip
        return done.stdout

    def start(self, name: str, *args: str) -> Service:
        log = self.home / "services" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("ab") as out:
            # Its own session: a Ctrl-C in the test's terminal does not reach it, and the group
            # id (= its PID) names every child it forks, for the cleanup in stop_all.
            process = subprocess.Popen(
                [str(AIRFLOW), *args],
                env=self.environment,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        service = Service(name, process, log)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        """TERM each service by its PID (workers finish a warm shutdown), KILL after 30 s, then
        KILL what is left of its process group (children of a parent that did not stop them)."""
        for service in reversed(self.services):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for service in reversed(self.services):
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait(timeout=10)
            with suppress(ProcessLookupError):  # the group is gone: nothing of it survived
                os.killpg(service.process.pid, signal.SIGKILL)
        self.services.clear()

    def check_alive(self) -> None:
        dead = [s for s in self.services if s.process.poll() is not None]
        if dead:
            raise AssertionError("; ".join(f"{s.name} exited {s.process.returncode}:\n{s.tail()}" for s in dead))

    def wait_until(self, what: str, ready: Any, timeout: float, details: str = "") -> None:
        """Poll `ready()` every second; fail with every service's log tail (and `details`) on timeout."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}"
                                     f"\n{details}")  # fmt: skip
            time.sleep(1)

    # ------------------------------------------------------------ runs

    def api(self, method: str, path: str, body: Mapping[str, Any]) -> Any:
        """One call to the REST API (/api/v2), authenticated as this run's user."""
        import requests

        if self.token is None:
            login = requests.post(f"{self.base_url}/auth/token", json={"username": API_USER, "password": self.password},
                                  timeout=60)  # fmt: skip
            assert login.status_code == 201, f"login to the API server: {login.status_code} {login.text[:500]}"
            self.token = str(login.json()["access_token"])
        response = requests.request(method, f"{self.base_url}/api/v2/{path}", json=dict(body), timeout=60,
                                    headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        assert response.status_code < 300, f"{method} /api/v2/{path}: {response.status_code} {response.text[:2000]}"
        return response.json()

    def trigger(self, dag_id: str, run_id: str, logical_date: str, conf: Mapping[str, Any] | None = None) -> None:
        """Create a run through the REST API: the scheduler, not this process, schedules its tasks."""
        self.api("POST", f"dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": logical_date,
                                                    "conf": dict(conf or {})})  # fmt: skip

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        with self.metadata.connect() as conn:
            found = conn.execute(text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"),
                                 {"d": dag_id, "r": run_id}).scalar_one_or_none()  # fmt: skip
        return None if found is None else str(found)

    def finished(self, dag_id: str, run_id: str) -> bool:
        return self.run_state(dag_id, run_id) in FINISHED

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """The run's final state (success or failed); task logs are printed when it failed."""
        try:
            self.wait_until(f"{dag_id} {run_id} to finish", lambda: self.finished(dag_id, run_id), timeout)
        except AssertionError as timeout_error:
            raise AssertionError(f"{timeout_error}\n{self.task_logs(dag_id, run_id)}") from None
        state = self.run_state(dag_id, run_id)
        assert state is not None
        if state != "success":
            print(self.task_logs(dag_id, run_id), file=sys.stderr)
        return state

    def task_runs(self, dag_id: str, run_id: str) -> list[TaskRun]:
        query = text(
            "SELECT ti.task_id, ti.map_index, ti.state, ti.try_number, ti.external_executor_id, meta.worker "
            "FROM task_instance ti LEFT JOIN celery_taskmeta meta ON meta.task_id = ti.external_executor_id "
            "WHERE ti.dag_id = :d AND ti.run_id = :r ORDER BY ti.task_id, ti.map_index"
        )
        with self.metadata.connect() as conn:
            rows = conn.execute(query, {"d": dag_id, "r": run_id}).all()
        return [TaskRun(dag_id, task, index, state, tries, celery_id, worker)
                for task, index, state, tries, celery_id, worker in rows]  # fmt: skip

    # ------------------------------------------------------------ diagnostics

    def task_logs(self, dag_id: str, run_id: str, lines: int = 80) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        parts = []
        for path in sorted(folder.rglob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"---- {path.relative_to(folder)}\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no task logs under {folder})"

    def diagnostics(self) -> str:
        return "\n".join(f"==== {s.name} (pid {s.process.pid}, exit {s.process.poll()})\n{s.tail()}"
                         for s in self.services)  # fmt: skip


def deployment_environment(home: Path, metadata_url: str, broker_url: str, queue: str, api_port: int,
                           stackledger_config: Path) -> dict[str, str]:  # fmt: skip
    """The environment every process of the deployment shares (secrets generated for this run only;
    the API user's password goes to a file of the simple auth manager, see `celery_airflow`)."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(FOREIGN_PREFIXES) and name not in FOREIGN_NAMES}  # fmt: skip
    api = f"http://127.0.0.1:{api_port}"
    environment.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        # Only the runs the test triggers: no cron run of the hourly DAG may start beside them.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # Airflow would derive asyncpg for its async sessions; psycopg 3 (already ours) does both.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        # result_extended: the result backend records which worker ran each task.
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps({"result_extended": True}),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW_VAR_STACKLEDGER_CONFIG": str(stackledger_config),
    })  # fmt: skip
    return environment


@contextmanager
def celery_airflow(home: Path, *, pg_url: str, redis_url: str, stackledger_config: Path, tag: str,
                   workers: int = 2, concurrency: int = 2, pool_slots: int = 4,
                   timeout: float = 300) -> Iterator[CeleryAirflow]:  # fmt: skip
    """Migrate a fresh metadata database, start the deployment, wait until the DAGs are parsed and
    every worker is ready; stop it all (and drop the database) when the block ends."""
    queue = f"stackledger-{tag}"
    home.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        metadata_url = stack.enter_context(scratch_database(pg_url, f"airflow_{tag}"))
        metadata = create_engine(metadata_url)
        stack.callback(metadata.dispose)
        environment = deployment_environment(home, metadata_url, f"{redis_url.rstrip('/')}/0", queue, free_port(),
                                             stackledger_config)  # fmt: skip
        names = [f"w{n}-{tag}" for n in range(1, workers + 1)]
        password = secrets.token_urlsafe(24)
        passwords = home / "passwords.json"
        passwords.touch(mode=0o600)
        passwords.write_text(json.dumps({API_USER: password}))
        cluster = CeleryAirflow(home, environment, metadata, queue, names, password)
        stack.callback(forget_queue, redis_url, queue)
        stack.callback(cluster.stop_all)

        cluster.airflow("db", "migrate", timeout=900)
        cluster.start("api-server", "api-server", "--workers", "1")
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        # --skip-serve-logs: the workers share this machine's log folder, and two log servers
        # would both want [logging] worker_log_server_port.
        worker = ["celery", "worker", "--queues", queue, "--concurrency", str(concurrency), "--skip-serve-logs"]
        logs = [cluster.start(name, *worker, "--celery-hostname", f"{name}@%h") for name in names]
        cluster.wait_until("the API server", lambda: answers(cluster.base_url), timeout)
        cluster.api("POST", "pools", {"name": GNOCCHI_POOL, "slots": pool_slots, "include_deferred": False,
                                      "description": "StackLedger: Gnocchi load"})  # fmt: skip
        cluster.wait_until("the DAGs to be parsed", lambda: parsed(cluster), timeout)
        cluster.wait_until("every worker to be ready", lambda: all(" ready." in w.tail(400) for w in logs), timeout)
        yield cluster


def parsed(cluster: CeleryAirflow, dag_ids: tuple[str, ...] = ("stackledger_collect", "stackledger_daily")) -> bool:
    try:
        with cluster.metadata.connect() as conn:
            found = set(conn.execute(text("SELECT dag_id FROM serialized_dag")).scalars())
    except Exception:  # the table appears with the migration; any error here means "not yet"
        return False
    return set(dag_ids) <= found


def answers(base_url: str) -> bool:
    import requests

    try:
        return requests.get(f"{base_url}/execution/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def forget_queue(redis_url: str, queue: str) -> None:
    """Delete this run's keys from the shared broker: its queue (kombu keeps one list per priority
    step) and the bindings of its exchange (Airflow names the exchange after the queue)."""
    import redis
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    keys = [queue, *(f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step)]
    keys += [Channel.keyprefix_queue % queue, Channel.keyprefix_binding_permanent % queue]
    client = redis.Redis.from_url(f"{redis_url.rstrip('/')}/0")
    try:
        client.delete(*keys)
    finally:
        client.close()
