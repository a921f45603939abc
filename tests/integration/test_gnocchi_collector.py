"""`collectors.gnocchi` and `stackledger collect` against the real Gnocchi and real stores.

Needs `ops/up.sh postgres gnocchi keystone` and `source .ops/env`. A missing service is a
failure, not a skip (DESIGN.md §9).

A generated fleet (tests/integration/gnocchi_fleet.py: 200 instances with interfaces, volumes,
floating IPs and images over two days, with resizes, a retype, a project transfer and
creations and deletions in mid-hour) is pushed into Gnocchi the way Ceilometer would push it;
the stored usage must equal the usage worked out from the readings by hand, and the number of
requests per meter and window must be the same for 20 instances as for 200. The outage test
SIGKILLs a Gnocchi API in the middle of a run and starts it again — an API process of its own
(same installation, config, indexer and storage as ops/gnocchi.sh's), so the shared server and
the other tests using it never see the outage.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import requests
from sqlalchemy import func, select

import stackledger.collectors.gnocchi as gnocchi_module
from stackledger.cli import main
from stackledger.collectors.base import Scope
from stackledger.collectors.gnocchi import GnocchiCollector
from stackledger.collectors.gnocchi_client import GnocchiClient, client_from_settings
from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import collect_range
from stackledger.pipeline.usage import load_usage
from stackledger.settings import GnocchiSourceSettings, Settings
from stackledger.store import tables
from stackledger.window import Window
from tests.conftest import REPO, gnocchi_endpoint, settings_for
from tests.integration.gnocchi_fleet import Fleet

pytestmark = pytest.mark.services

TODAY = dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
START = TODAY - dt.timedelta(days=3)
WINDOW = Window(START, START + dt.timedelta(days=2))  # two daily windows, ended a day ago
KEY = ["charge_period_start", "resource_id", "service", "flavor_name"]


_pushed: list[Fleet] = []


@functools.cache
def fleet(instances: int) -> Fleet:
    """The fleet of that size, generated and pushed once per session (deleted by `_cleanup`)."""
    url, user = gnocchi_endpoint()
    generated = Fleet.generate(
        instances=instances, start=START, hours=48, volumes=instances // 10, floating_ips=max(instances // 40, 2),
        images=max(instances // 100, 1), seed=instances,
    )  # fmt: skip
    _pushed.append(generated)
    generated.push(url, user)
    return generated


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    url, user = os.environ.get("STACKLEDGER_GNOCCHI_URL"), os.environ.get("STACKLEDGER_GNOCCHI_USER", "admin")
    if url:
        for pushed in _pushed:
            pushed.delete(url, user)


def gnocchi_settings(settings: Settings, projects: list[str], **overrides: Any) -> Settings:
    url, user = gnocchi_endpoint()
    section = GnocchiSourceSettings(url=url, user=user, projects=projects, **overrides)
    return settings.model_copy(update={"gnocchi": section})


class Recorder:
    """Every HTTP request a client sends: (kind, scope) — ("aggregates", metric) or ("search", type)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.after: Callable[[tuple[str, str]], None] | None = None

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        path = urlsplit(request.url or "").path
        body = json.loads(request.body or b"{}")
        if path.endswith("/aggregates"):
            entry = ("aggregates", _metric(body["operations"]))
        else:
            entry = ("search", path.rsplit("/", 1)[-1])
        self.sent.append(entry)
        if self.after is not None:
            _ = response.content  # hooks run before requests reads the body: finish it before `after` acts
            self.after(entry)

    def client(self, section: GnocchiSourceSettings) -> GnocchiClient:
        made = client_from_settings(section)
        made.session.hooks["response"].append(self.hook)
        return made


def _metric(operations: Any) -> str:
    """The metric an operations tree reads (["aggregate", "mean", ["metric", "vcpus", "mean"]])."""
    if isinstance(operations, list):
        if operations and operations[0] == "metric":
            return str(operations[1])
        for node in operations:
            found = _metric(node)
            if found:
                return found
    return ""


def stored_usage(settings: Settings) -> pd.DataFrame:
    return load_usage(settings, WINDOW, source="gnocchi")


def assert_equal_usage(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    merged = got.merge(expected, on=KEY, how="outer", suffixes=("", "_t"), indicator=True)
    extra = merged[merged["_merge"] != "both"]
    assert extra.empty, f"rows on one side only:\n{extra[[*KEY, 'consumed_quantity', 'consumed_quantity_t', '_merge']]}"
    off = ~np.isclose(merged["consumed_quantity"], merged["consumed_quantity_t"], rtol=0, atol=1e-9)
    assert not off.any(), f"quantities differ:\n{merged[off][[*KEY, 'consumed_quantity', 'consumed_quantity_t']]}"
    for column in ("project_id", "volume_type", "resource_type", "region"):
        left, right = merged[column].fillna(""), merged[f"{column}_t"].fillna("")
        assert (left == right).all(), f"{column} differs:\n{merged[left != right][[*KEY, column, f'{column}_t']]}"
    for column in ("vcpus", "ram_mib"):
        left, right = merged[column].to_numpy(float), merged[f"{column}_t"].to_numpy(float)
        same = (np.isnan(left) & np.isnan(right)) | (left == right)
        assert same.all(), f"{column} differs:\n{merged[~same][[*KEY, column, f'{column}_t']]}"


def count(settings: Settings, table: Any, *where: Any) -> int:
    with store_for(settings).engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# ---------------------------------------------------------------- correctness


def test_two_days_of_200_instances_give_the_generated_truth(
    any_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = fleet(200)
    settings = gnocchi_settings(any_settings, cloud.projects)
    recorder = Recorder()
    monkeypatch.setattr(gnocchi_module, "client_from_settings", recorder.client)

    results = collect_range(settings, ["gnocchi"], WINDOW)

    assert [r.window for r in results] == list(WINDOW.days())
    assert all(r.complete and not r.open and not r.skipped for r in results), [r.failures for r in results]
    truth = cloud.truth(WINDOW.start, WINDOW.end)
    assert len(truth) > 40_000
    assert_equal_usage(stored_usage(settings), truth)
    assert count(settings, tables.checkpoints, tables.checkpoints.c.source == "gnocchi") == 2

    # Resizes are revisions; a deletion is a lifetime end on every revision of the instance.
    resources = store_for(settings).frame(select(tables.resources).where(tables.resources.c.source == "gnocchi"))
    by_id = {r.id: r for r in cloud.resources}
    resized = next(r for r in cloud.resources if r.gnocchi_type == "instance" and len(r.revisions) == 3
                   and r.ended is None)  # fmt: skip
    rows = resources[resources["resource_id"] == resized.id].sort_values("valid_from")
    assert list(rows["flavor_name"]) == [attributes["flavor_name"] for _, attributes in resized.revisions]
    assert list(pd.to_datetime(rows["valid_from"])) == [pd.Timestamp(t) for t, _ in resized.revisions]
    deleted = [r for r in by_id.values() if r.gnocchi_type == "instance" and r.ended is not None]
    for vm in deleted[:5]:
        ends = pd.to_datetime(resources[resources["resource_id"] == vm.id]["ended_at"])
        assert (ends == pd.Timestamp(vm.ended)).all()
    assert set(resources["resource_type"]) == {"instance", "volume", "floating_ip", "image"}

    # The request pattern: one search per resource type and one aggregates request per meter.
    per_window = Counter(recorder.sent)
    assert set(per_window.values()) == {2}, per_window  # two windows, once each
    assert len(per_window) == 4 + len(gnocchi_module.METERS_COLLECTED)

    # Re-running changes nothing; --force replaces rather than adds.
    again = collect_range(settings, ["gnocchi"], WINDOW)
    assert all(r.skipped for r in again) and len(recorder.sent) == 2 * len(per_window)
    before = stored_usage(settings)
    forced = collect_range(settings, ["gnocchi"], WINDOW, force=True)
    assert all(r.stored for r in forced)
    pd.testing.assert_frame_equal(stored_usage(settings), before)


def test_plain_groupby_gives_the_same_usage(sqlite_settings: Settings) -> None:
    """gnocchi.use_history: false — attributes in force from the revision search instead."""
    cloud = fleet(200)
    settings = gnocchi_settings(sqlite_settings, cloud.projects, use_history=False)
    assert all(r.stored for r in collect_range(settings, ["gnocchi"], WINDOW))
    assert_equal_usage(stored_usage(settings), cloud.truth(WINDOW.start, WINDOW.end))


def test_requests_per_meter_per_window_do_not_grow_with_instances(sqlite_settings: Settings) -> None:
    patterns = {}
    for size in (20, 200):
        cloud = fleet(size)
        section = gnocchi_settings(sqlite_settings, cloud.projects).gnocchi
        recorder = Recorder()
        collector = GnocchiCollector(recorder.client(section), concurrency=4)
        for day in WINDOW.days():
            collected = collector.collect(day, Scope(projects=tuple(cloud.projects)))
            assert collected.complete and len(collected.readings) > size * 24
        patterns[size] = Counter(recorder.sent)
    assert patterns[20] == patterns[200]
    meters = {scope: n for (kind, scope), n in patterns[200].items() if kind == "aggregates"}
    assert meters == {name: 2 for name in gnocchi_module.METERS_COLLECTED}  # one per meter per window
    searches = {scope: n for (kind, scope), n in patterns[200].items() if kind == "search"}
    assert searches == {name: 2 for name in ("instance", "volume", "image", "network")}


# ---------------------------------------------------------------- outage


OPS_DIR = Path(os.environ.get("STACKLEDGER_OPS_DIR", REPO / ".ops"))


class GnocchiApi:
    """A Gnocchi API process of this test's own: ops/gnocchi.sh's installation, config, indexer and
    storage, served by a second gunicorn on a free port — so the test can kill it mid-run without
    taking the shared server (and everyone else's tests) down."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        gunicorn, conf = OPS_DIR / "venvs" / "gnocchi" / "bin" / "gunicorn", OPS_DIR / "gnocchi" / "gnocchi.conf"
        if not gunicorn.exists() or not conf.exists():
            pytest.fail(f"no Gnocchi installation under {OPS_DIR}: run `ops/up.sh gnocchi`", pytrace=False)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "--chdir", str(REPO / "ops" / "gnocchi"), "--bind", f"127.0.0.1:{self.port}",
                 "--workers", "1", "--threads", "4", "--no-control-socket", "stackledger_gnocchi_wsgi:application"],
                env={**os.environ, "GNOCCHI_CONFIG_FILE": str(conf)}, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the Gnocchi API exited, see {self.log}"
            try:
                if requests.get(f"{self.url}/healthcheck", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        pytest.fail(f"the Gnocchi API did not answer on {self.url} within 120 s, see {self.log}")

    def kill(self) -> None:
        """SIGKILL to the process group this test started (gunicorn's master and worker)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def test_outage_mid_run_leaves_no_partial_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = fleet(20)
    api = GnocchiApi(tmp_path / "gnocchi-api.log")
    api.start()
    # One request at a time, so "after the first meter of day two" is one exact moment; few quick
    # retries, so the dead server is reported in seconds.
    fast = {"concurrency": 1, "retries": 2, "backoff_s": 0.05}
    uninterrupted = gnocchi_settings(settings_for(f"sqlite:///{tmp_path / 'whole.db'}", tmp_path), cloud.projects)
    assert all(r.stored for r in collect_range(uninterrupted, ["gnocchi"], WINDOW))

    settings = gnocchi_settings(settings_for(f"sqlite:///{tmp_path / 'cut.db'}", tmp_path), cloud.projects, **fast)
    section = settings.gnocchi.model_dump(mode="json") | {"url": api.url}
    config = tmp_path / "stackledger.yaml"
    config.write_text(json.dumps({"database": {"url": settings.database.url}, "gnocchi": section}))
    day_one, day_two = WINDOW.days()
    recorder = Recorder()
    state: dict[str, int] = {}

    def kill_after_first_meter_of_day_two(entry: tuple[str, str]) -> None:
        aggregates = [e for e in recorder.sent if e[0] == "aggregates"]
        if len(aggregates) == len(gnocchi_module.METERS_COLLECTED) + 1 and entry[0] == "aggregates":
            state["usage"] = count(settings, tables.usage)
            state["resources"] = count(settings, tables.resources)
            api.kill()

    recorder.after = kill_after_first_meter_of_day_two
    monkeypatch.setattr(gnocchi_module, "client_from_settings", recorder.client)
    argv = ["--config", str(config), "collect", "--source", "gnocchi", "--start", WINDOW.start.isoformat(),
            "--end", WINDOW.end.isoformat()]  # fmt: skip
    try:
        code = main(argv)
        output = capsys.readouterr()
        assert code == 1, output
        assert "1 windows stored" in output.out and "1 failed" in output.out
        failed = [line for line in output.err.splitlines() if line.startswith("stackledger: gnocchi")]
        scopes = [line.split(": ")[2].split(" (")[0] for line in failed]  # the searches ran before the kill
        assert scopes == [f"meter {name}" for name in list(gnocchi_module.METERS_COLLECTED)[1:]], failed
        assert all(re.search(r"cannot connect to http://[^ @]+/v1 \(\[Errno 111\] Connection refused\)", line)
                   for line in failed), failed  # fmt: skip
        checkpoints = store_for(settings).frame(select(tables.checkpoints))
        assert list(pd.to_datetime(checkpoints["window_start"])) == [pd.Timestamp(day_one.start)]
        # No partial window: day two wrote nothing at all, day one is whole.
        assert count(settings, tables.usage, tables.usage.c.charge_period_start >= day_two.start) == 0
        assert count(settings, tables.usage) == state["usage"] > 0
        assert count(settings, tables.resources) == state["resources"]

        recorder.after = None
        api.start()  # Gnocchi is back
        assert main(argv) == 0, capsys.readouterr()
    finally:
        api.kill()
    output = capsys.readouterr().out
    assert "1 windows stored" in output and "1 already stored" in output and "0 failed" in output
    assert count(settings, tables.checkpoints) == 2
    whole, resumed = stored_usage(uninterrupted), stored_usage(settings)
    pd.testing.assert_frame_equal(resumed, whole)
    totals = resumed.groupby("service")["consumed_quantity"].sum()
    assert np.allclose(totals, whole.groupby("service")["consumed_quantity"].sum(), rtol=0, atol=1e-9)
    assert_equal_usage(resumed, cloud.truth(WINDOW.start, WINDOW.end))


# ---------------------------------------------------------------- keystone mode


class _TokenEcho(http.server.BaseHTTPRequestHandler):
    """Stands in for a Keystone-protected Gnocchi: records the token, answers an empty search."""

    tokens: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).tokens.append(self.headers.get("X-Auth-Token"))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_keystone_mode_sends_a_real_keystone_token() -> None:
    cloud_name, auth_url = os.environ.get("OS_CLOUD"), os.environ.get("OS_AUTH_URL", "")
    if not cloud_name or not os.environ.get("OS_CLIENT_CONFIG_FILE"):
        pytest.fail("OS_CLOUD / OS_CLIENT_CONFIG_FILE are not set: run `ops/up.sh keystone`", pytrace=False)
    keystone = urlsplit(auth_url)
    try:
        socket.create_connection((keystone.hostname, keystone.port or 80), timeout=2).close()
    except (OSError, TypeError) as exc:
        pytest.fail(f"no Keystone at {auth_url!r} ({exc}): run `ops/up.sh keystone`", pytrace=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenEcho)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        section = GnocchiSourceSettings(url=f"http://127.0.0.1:{server.server_port}", auth_mode="keystone",
                                        cloud=cloud_name)  # fmt: skip
        client = client_from_settings(section)
        assert client.search_resources("instance", {}) == []
        assert client.search_resources("volume", {}) == []
    finally:
        server.shutdown()
    tokens = _TokenEcho.tokens
    assert len(tokens) == 2 and tokens[0] and tokens[0] == tokens[1]  # one token, cached by keystoneauth
