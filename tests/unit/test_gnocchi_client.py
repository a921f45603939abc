"""collectors.gnocchi_client: retries, "no data", refusals and paging, against a local HTTP server
that answers what each case needs (the real Gnocchi is in tests/integration)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from stackledger.collectors.base import EVERY_PROJECT, Scope
from stackledger.collectors.gnocchi import GnocchiCollector
from stackledger.collectors.gnocchi_client import GnocchiClient, iso
from stackledger.errors import SourceError, TransientSourceError
from stackledger.settings import GnocchiSourceSettings
from stackledger.window import Window

START, STOP = dt.datetime(2026, 10, 14), dt.datetime(2026, 10, 15)


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers POSTs from `script` in order: (status, body, headers)."""

    script: ClassVar[list[tuple[int, Any, dict[str, str]]]] = []
    seen: ClassVar[list[tuple[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        type(self).seen.append((self.path, body))
        status, answer, headers = type(self).script.pop(0)
        raw = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value.replace("PORT", str(self.server.server_address[1])))
        cut = headers.get("X-Test-Cut") == "yes"  # promise more than is sent, then hang up
        self.send_header("Content-Length", str(len(raw) + (100 if cut else 0)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Scripted.script, Scripted.seen = [], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def fetch(client: GnocchiClient) -> list[dict[str, Any]]:
    return client.aggregates(resource_type="instance", search={}, operations=["aggregate", "mean",
                             ["metric", "vcpus", "mean"]], groupby=["id"], start=START, stop=STOP)  # fmt: skip


def test_transient_errors_are_retried(server: str) -> None:
    Scripted.script = [(503, {"description": "busy"}, {}), (429, {}, {}), (200, [], {})]
    client = GnocchiClient(server, retries=2, backoff_s=0)
    assert fetch(client) == [] and client.requests_sent == 3
    path, body = Scripted.seen[0]
    assert path.startswith("/v1/aggregates?groupby=id&use_history=true&granularity=3600&start=2026-10-14T00")
    assert body["operations"] == ["aggregate", "mean", ["metric", "vcpus", "mean"]]

    Scripted.script = [(500, {}, {})] * 3
    with pytest.raises(TransientSourceError, match="answered 500"):
        fetch(client)


def test_an_answer_cut_off_half_way_is_retried(server: str) -> None:
    Scripted.script = [(200, [{"partial": True}], {"X-Test-Cut": "yes"}), (200, [], {})]
    client = GnocchiClient(server, retries=2, backoff_s=0)
    assert fetch(client) == [] and client.requests_sent == 2
    Scripted.script = [(200, [], {"X-Test-Cut": "yes"})] * 3
    with pytest.raises(TransientSourceError, match="answer cut off"):
        fetch(client)


def test_no_such_metric_is_no_data_but_other_refusals_are_errors(server: str) -> None:
    client = GnocchiClient(server + "/v1/", retries=3, backoff_s=0)
    Scripted.script = [(404, {"code": 404, "description": "Metric ['vcpus'] does not exist"}, {})]
    assert fetch(client) == []
    Scripted.script = [(404, {"description": {"cause": "Metrics with unknown aggregation"}}, {})]
    with pytest.raises(SourceError, match="unknown aggregation") as refused:
        fetch(client)
    assert not refused.value.transient
    Scripted.script = [(400, {"description": "Invalid input"}, {})]
    with pytest.raises(SourceError, match="answered 400: Invalid input"):
        fetch(client)
    assert client.requests_sent == 3  # terminal errors are not retried


def test_search_follows_every_page(server: str) -> None:
    link = '<http://127.0.0.1:PORT/v1/search/resource/instance?history=true&limit=1&marker=a%401>; rel="next"'
    Scripted.script = [(200, [{"id": "a"}], {"Link": link}), (200, [{"id": "b"}], {})]
    client = GnocchiClient(server)
    assert client.search_resources("instance", {"=": {"project_id": "p"}}) == [{"id": "a"}, {"id": "b"}]
    assert [body for _, body in Scripted.seen] == [{"=": {"project_id": "p"}}] * 2  # the search goes again
    assert "marker=a%401" in Scripted.seen[1][0]


def test_a_dead_server_fails_fast_after_the_first_full_retry() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = GnocchiClient(f"http://127.0.0.1:{port}", retries=2, backoff_s=0)
    with pytest.raises(TransientSourceError, match="cannot connect"):
        fetch(client)
    assert client.requests_sent == 3
    with pytest.raises(TransientSourceError):
        fetch(client)
    assert client.requests_sent == 4  # one try only while the server is down


def aggregates_asked(server: str, scope: Scope = EVERY_PROJECT, **options: Any) -> tuple[str, Any]:
    """The aggregates request (path with query, body) of one vcpus-only collect (empty answers)."""
    Scripted.script = [(200, [], {}), (200, [], {})]  # the instance search and the vcpus aggregates
    collector = GnocchiCollector(GnocchiClient(server), meters=["vcpus"], concurrency=1, **options)
    collector.collect(Window(START, STOP), scope)
    return next((path, body) for path, body in Scripted.seen if path.startswith("/v1/aggregates"))


P1 = Scope(projects=("p1",))


@pytest.mark.parametrize(
    ("scope", "options", "history"),
    [
        (EVERY_PROJECT, {}, False),  # the default, every project: plain groupby (the same usage, less Gnocchi CPU)
        (P1, {}, True),  # a project filter: a resource moved out keeps its hours in p1
        (EVERY_PROJECT, {"use_history": True}, True),
        (P1, {"use_history": False}, False),
    ],
)
def test_auto_asks_use_history_only_under_a_project_filter(
    server: str, scope: Scope, options: dict[str, Any], history: bool
) -> None:
    path, body = aggregates_asked(server, scope, **options)
    assert ("use_history=true" in path) is history
    # Plain groupby must be told which resources were alive; use_history keeps to the span itself.
    assert ("started_at" in json.dumps(body["search"])) is not history
    assert ('"p1"' in json.dumps(body["search"])) is (scope == P1)


def test_a_shard_asks_use_history_for_its_projects_and_unknown_ones(server: str) -> None:
    """A shard's scope: its known projects, and every project not known yet ("not in known")."""
    path, body = aggregates_asked(server, Scope(projects=("p1",), unknown_besides=("p1", "p2")))
    assert "use_history=true" in path
    assert body["search"] == {"or": [{"in": {"project_id": ["p1"]}}, {"not": {"in": {"project_id": ["p1", "p2"]}}}]}


def test_use_history_setting_defaults_to_auto_and_takes_booleans() -> None:
    assert GnocchiSourceSettings().use_history == "auto"
    assert GnocchiSourceSettings(use_history="true").use_history is True  # as from STACKLEDGER__GNOCCHI__...
    assert GnocchiSourceSettings(use_history="false").use_history is False


def test_iso_is_explicit_utc() -> None:
    assert iso(dt.datetime(2026, 10, 14, 10)) == "2026-10-14T10:00:00+00:00"
