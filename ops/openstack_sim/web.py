"""The HTTP layer: stdlib ThreadingHTTPServer, JSON in and out, OpenStack-shaped errors.

Kept free of Nova/Cinder knowledge so each service module is only routes and views.
"""

from __future__ import annotations

import errno
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOG = logging.getLogger(__name__)

# Nova and Cinder wrap errors in an object named after the fault (nova/api/openstack/wsgi.py).
FAULT_NAMES = {
    400: "badRequest",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    503: "serviceUnavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        if self.status == 401:  # rejected by keystonemiddleware, before the service sees it
            return {"error": {"code": 401, "title": "Unauthorized", "message": self.message}}
        name = FAULT_NAMES.get(self.status, "computeFault")
        return {name: {"code": self.status, "message": self.message}}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names: HTTP header names are case-insensitive
    body: bytes
    host_url: str  # scheme://host:port the client used, for links like upstream builds them

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


App = Callable[[Request], Response]


def error_response(err: ApiError) -> Response:
    return Response(err.status, err.body(), dict(err.headers))


def make_handler(app: App, service: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients page through many requests

        def _run(self) -> None:
            request = self._read_request()
            try:
                response = app(request)
            except ApiError as err:
                response = error_response(err)
            except Exception:
                LOG.exception("%s %s failed", request.method, request.path)
                response = Response(500, {"computeFault": {"code": 500, "message": "internal"}})
            self._write(response)

        def _read_request(self) -> Request:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or "127.0.0.1"  # HTTP/1.1 clients always send Host
            return Request(
                method=self.command,
                path=parts.path,
                body=body,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                host_url=f"http://{host}",
            )

        def _write(self, response: Response) -> None:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            self.send_response(response.status)
            request_id = f"req-{uuid.uuid4()}"
            self.send_header("X-OpenStack-Request-Id", request_id)
            if service == "compute":
                self.send_header("X-Compute-Request-Id", request_id)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _run

        def log_message(self, format: str, *args: Any) -> None:
            # Request line and status only: tokens travel in headers, which are never logged.
            LOG.info("%s %s", service, format % args)

    return Handler


def serve(app: App, service: str, host: str, port: int, patience: float = 120.0) -> ThreadingHTTPServer:
    # Our fixed ports sit inside Linux's ephemeral range (32768-60999). A client socket that used
    # the port as its source (e.g. one of many short PostgreSQL connections) blocks bind() for its
    # whole TIME_WAIT (60 s), SO_REUSEADDR notwithstanding, so wait rather than fail the start.
    deadline = time.monotonic() + patience
    while True:
        try:
            server = ThreadingHTTPServer((host, port), make_handler(app, service))
            break
        except OSError as err:
            if err.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            LOG.warning("%s:%d is in use (an outgoing connection?); retrying", host, port)
            time.sleep(1.0)
    server.daemon_threads = True
    return server
