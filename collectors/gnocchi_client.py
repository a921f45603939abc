"""A thin Gnocchi REST client: the two calls the collector makes, retried and counted.

    GnocchiClient.aggregates(...)        POST /v1/aggregates?groupby=…[&use_history=true]&granularity=…
    GnocchiClient.search_resources(...)  POST /v1/search/resource/<type>?history=true, every page
                                         (Gnocchi pages with `Link: <…marker=…>; rel="next"`)

Errors raised (`stackledger.errors`):

    SourceError                 Gnocchi refused the request (4xx other than 429): retrying won't help
    └── TransientSourceError    connection refused or reset, timeout, 5xx, 429: retried with
                                exponential backoff (tenacity) before it is raised

A 404 "Metric [...] does not exist" from /v1/aggregates is not an error: no resource the search
matched has that metric in the period, i.e. no data, and `aggregates` returns []. Every other 404
(a wrong URL, an aggregation method the archive policy lacks) is a SourceError.

When a request has used all its retries on a connection error, the server is taken to be down:
later requests try once, without waiting, until one succeeds — so a collector whose server died
reports every meter as failed in seconds instead of backing off for each one. `requests_sent`
counts every HTTP request sent (retries included); a client may be shared between threads.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urljoin

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from stackledger.errors import ConfigError, SourceError, TransientSourceError
from stackledger.redact import redact_text, remember_in, strip_userinfo
from stackledger.settings import GnocchiSourceSettings

log = logging.getLogger(__name__)

SOURCE: Final = "gnocchi"
PAGE_LIMIT: Final = 1000  # Gnocchi's default api.max_limit: larger asks are clamped to it anyway
MAX_BACKOFF_S: Final = 30.0
_RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})


class _Unreachable(TransientSourceError):
    """No HTTP answer at all (refused, reset, timed out)."""


class GnocchiClient:
    """Gnocchi's REST API under `url` (the server root; `/v1` is added)."""

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        auth: requests.auth.AuthBase | tuple[str, str] | None = None,
        timeout_s: float = 120.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        verify: bool = True,
    ) -> None:
        root = url.rstrip("/")
        self.base = root if root.endswith("/v1") else root + "/v1"
        self.server = strip_userinfo(self.base)  # how errors name it: never a user or password
        self.session = session if session is not None else requests.Session()
        if auth is not None:
            self.session.auth = auth
        self.session.verify = verify
        self.session.headers["Accept"] = "application/json"  # else Gnocchi's 404s are HTML
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._lock = threading.Lock()
        self._requests = 0
        self._down = False

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far, every retry included."""
        with self._lock:
            return self._requests

    # ------------------------------------------------------------ the two calls

    def aggregates(
        self,
        *,
        resource_type: str,
        search: dict[str, Any],
        operations: list[Any],
        groupby: Sequence[str],
        start: dt.datetime,
        stop: dt.datetime,
        granularity: int = 3600,
        use_history: bool = True,
    ) -> list[dict[str, Any]]:
        """Grouped measures: `[{"group": {...}, "measures": {"measures": {"aggregated":
        [[iso ts, granularity, value], ...]}}}, ...]`; [] when nothing matched has the metric.

        `start` and `stop` are naive UTC and both required (use_history answers 500 without them).
        With `use_history` each point is grouped by the attributes in force at its time.
        """
        params = [("groupby", name) for name in groupby]
        if use_history:
            params.append(("use_history", "true"))
        params += [("granularity", str(granularity)), ("start", iso(start)), ("stop", iso(stop))]
        body = {"resource_type": resource_type, "search": search, "operations": operations}
        response = self._call("POST", self.base + "/aggregates", params=params, json=body, no_data_404=True)
        if response.status_code == 404:
            return []
        answer = response.json()
        if not isinstance(answer, list):
            raise SourceError(f"/v1/aggregates answered {type(answer).__name__}, not a list", source=SOURCE)
        return answer

    def search_resources(
        self, resource_type: str, query: dict[str, Any], *, history: bool = True
    ) -> list[dict[str, Any]]:
        """Every resource (every revision with `history`) matching `query`, all pages."""
        url: str | None = f"{self.base}/search/resource/{resource_type}"
        params: list[tuple[str, str]] | None = [("history", str(history).lower()), ("limit", str(PAGE_LIMIT))]
        found: list[dict[str, Any]] = []
        while url is not None:
            response = self._call("POST", url, params=params, json=query)
            page = response.json()
            if not isinstance(page, list):
                raise SourceError(f"resource search answered {type(page).__name__}, expected a list", source=SOURCE)
            found.extend(page)
            following = response.links.get("next", {}).get("url")
            # The next link carries history, limit, marker and sort; the search body goes again.
            url, params = (urljoin(url, following), None) if following and page else (None, None)
        return found

    # ------------------------------------------------------------ transport

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
        no_data_404: bool = False,
    ) -> requests.Response:
        attempts = 1 if self._down else self.retries + 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=MAX_BACKOFF_S),
            retry=retry_if_exception(lambda error: isinstance(error, TransientSourceError)),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            response: requests.Response = retrying(self._once, method, url, params, json, no_data_404)
        except _Unreachable:
            self._down = True
            raise
        self._down = False
        return response

    def _once(
        self, method: str, url: str, params: list[tuple[str, str]] | None, body: Any, no_data_404: bool
    ) -> requests.Response:
        with self._lock:
            self._requests += 1
        where = f"{method} {url.removeprefix(self.base) or '/'}"
        try:
            response = self.session.request(method, url, params=params, json=body, timeout=self.timeout_s)
        except requests.Timeout:
            raise _Unreachable(
                f"{where}: no answer from {self.server} within {self.timeout_s:g} s", source=SOURCE
            ) from None
        except requests.ConnectionError as error:
            raise _Unreachable(f"{where}: cannot connect to {self.server} ({_reason(error)})", source=SOURCE) from None
        except requests.exceptions.ChunkedEncodingError as error:
            # The connection broke half way through the answer (a worker restarting): worth another try.
            raise TransientSourceError(f"{where}: answer cut off ({_short(str(error))})", source=SOURCE) from None
        except requests.RequestException as error:
            raise SourceError(f"{where}: {type(error).__name__}: {_short(str(error))}", source=SOURCE) from None
        if response.ok or (no_data_404 and _is_no_such_metric(response)):
            return response
        message = f"{where} answered {response.status_code}: {_description(response)}"
        if response.status_code in _RETRY_STATUS:
            raise TransientSourceError(message, source=SOURCE)
        raise SourceError(message, source=SOURCE)


def iso(instant: dt.datetime) -> str:
    """Naive UTC (our convention) → ISO 8601 with an explicit +00:00."""
    aware = instant.replace(tzinfo=dt.UTC) if instant.tzinfo is None else instant.astimezone(dt.UTC)
    return aware.isoformat()


def client_from_settings(settings: GnocchiSourceSettings) -> GnocchiClient:
    """A client for `settings` (basic auth, or a Keystone token from clouds.yaml)."""
    options: dict[str, Any] = {
        "timeout_s": settings.timeout_s, "retries": settings.retries, "backoff_s": settings.backoff_s,
        "verify": settings.verify_tls,
    }  # fmt: skip
    if settings.auth_mode == "basic":
        if not settings.url:
            raise ConfigError("the Gnocchi URL is not set (gnocchi.url)", key="gnocchi.url")
        password = settings.password.get_secret_value() if settings.password is not None else ""
        return GnocchiClient(settings.url, auth=(settings.user, password), **options)
    session, url = _keystone(settings)
    return GnocchiClient(url, auth=_KeystoneToken(session), **options)


class _KeystoneToken(requests.auth.AuthBase):
    """X-Auth-Token from a keystoneauth session, which caches the token and renews it before expiry."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from keystoneauth1 import exceptions as ks_exceptions

        try:
            token = self.session.get_token()
        except ks_exceptions.ConnectFailure as error:
            raise requests.ConnectionError(f"keystone: {error}") from None
        except ks_exceptions.ClientException as error:
            raise requests.RequestException(f"keystone refused a token: {error}") from None
        request.headers["X-Auth-Token"] = token
        return request


def _keystone(settings: GnocchiSourceSettings) -> tuple[Any, str]:
    """A keystoneauth session from clouds.yaml (`gnocchi.cloud`, else $OS_CLOUD) and Gnocchi's URL."""
    import openstack.config
    from keystoneauth1 import exceptions as ks_exceptions
    from openstack import exceptions as sdk_exceptions

    try:
        region = openstack.config.get_cloud_region(cloud=settings.cloud)
        session = region.get_session()
    except (sdk_exceptions.SDKException, ks_exceptions.ClientException) as error:
        raise ConfigError(f"cannot build a Keystone session: {redact_text(str(error))}", key="gnocchi.cloud") from None
    remember_in(region.config.get("auth") or {})  # clouds.yaml credentials: masked wherever they would appear
    if settings.url:
        return session, settings.url
    try:
        url = session.get_endpoint(
            service_type="metric", interface=region.get_interface(), region_name=region.get_region_name()
        )
    except ks_exceptions.ClientException as error:
        raise ConfigError(f"no Gnocchi (`metric`) endpoint in the catalog: {error}", key="gnocchi.url") from None
    if not url:
        raise ConfigError("no Gnocchi (`metric`) endpoint in the catalog; set gnocchi.url", key="gnocchi.url")
    return session, str(url)


def _is_no_such_metric(response: requests.Response) -> bool:
    """Gnocchi's "no resource in the search has this metric": a 404 whose description is a string."""
    if response.status_code != 404:
        return False
    description = _json(response).get("description")
    return isinstance(description, str) and description.startswith("Metric ") and "does not exist" in description


def _description(response: requests.Response) -> str:
    body = _json(response)
    return _short(str(body.get("description") or body or response.text))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(error: Exception) -> str:
    """The OS-level reason inside requests' nested connection errors ("[Errno 111] Connection refused")."""
    text = str(error)
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    reason = found.group(0).strip() if found else _short(text, 160)
    return f"keystone: {reason}" if text.startswith("keystone:") else reason


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("gnocchi: try %d failed (%s); retrying in %.1f s", state.attempt_number, error, wait)


__all__ = ["PAGE_LIMIT", "SOURCE", "GnocchiClient", "client_from_settings", "iso"]
