"""How the Nova, Cinder and Keystone collectors talk to OpenStack: the connection, JSON pages at one
microversion, and the APIs' timestamps.

    connect(settings)          openstacksdk Connection from clouds.yaml (`openstack.cloud`, else
                               $OS_CLOUD); only this edge reads settings, collectors take the result
    negotiate(proxy, wanted)   the microversion to send: "auto" = the highest both the cloud
                               (version discovery) and StackLedger (KNOWN_MAX) know
    Api(proxy, …)              GET JSON through the proxy (the catalog's endpoint, Keystone tokens)
                               at that microversion; pages followed by marker; requests counted

Errors (`stackledger.errors`): a 4xx is a `SourceError`; connection failures, timeouts, 5xx and
429 are `TransientSourceError`, retried `retries` times with exponential backoff (tenacity) first.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from stackledger.errors import ConfigError, SourceError, TransientSourceError
from stackledger.redact import redact_text, remember_in, strip_userinfo
from stackledger.settings import OpenStackSettings

log = logging.getLogger(__name__)

# The newest microversions whose answers StackLedger has been checked against (the api-ref samples
# in ../shared/fixtures/openstack and ops/openstack_sim). "auto" never asks for more.
KNOWN_MAX: Final = {"compute": (2, 102), "block-storage": (3, 71)}
BASE_VERSION: Final = {"compute": (2, 1), "block-storage": (3, 0)}
MAX_BACKOFF_S: Final = 30.0

Version = tuple[int, int]


# ---------------------------------------------------------------- connection and microversions


def connect(settings: OpenStackSettings) -> Any:
    """An openstacksdk Connection for the clouds.yaml entry `settings.cloud` (else $OS_CLOUD).

    Always by cloud name: explicit credentials would be merged with whatever OS_* variables the
    environment exports."""
    import openstack
    from keystoneauth1 import exceptions as ks_exceptions
    from openstack import exceptions as sdk_exceptions

    cloud = settings.cloud or os.environ.get("OS_CLOUD")
    if not cloud:
        raise ConfigError("no cloud to read: set openstack.cloud or $OS_CLOUD (a clouds.yaml entry)",
                          key="openstack.cloud")  # fmt: skip
    options: dict[str, Any] = {"api_timeout": settings.timeout_s}
    if settings.region:
        options["region_name"] = settings.region
    if settings.interface:
        options["interface"] = settings.interface
    try:
        conn = openstack.connect(cloud=cloud, **options)
    except (sdk_exceptions.SDKException, ks_exceptions.ClientException) as error:
        raise ConfigError(f"cannot use cloud {cloud!r}: {redact_text(str(error))}", key="openstack.cloud") from None
    authenticate(conn.session, conn.config.config.get("auth") or {}, cloud, key="openstack.cloud")
    return conn


def authenticate(session: Any, auth: Mapping[str, Any], cloud: str, *, key: str) -> None:
    """Get the session's token now, so an unreachable Keystone or refused credentials are one
    clear error naming Keystone's URL (without userinfo) and the cloud — not a failure deep inside
    the first request. The clouds.yaml credentials are remembered by `stackledger.redact` first."""
    from keystoneauth1 import exceptions as ks_exceptions

    remember_in(auth)
    where = f"Keystone at {strip_userinfo(str(auth.get('auth_url') or '?'))}"
    try:
        session.get_token()
    except (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout) as error:
        reason = _os_reason(str(error)) or type(error).__name__
        raise TransientSourceError(f"cannot connect to {where} ({reason}): check auth_url of cloud {cloud!r} in "
                                   "clouds.yaml and that Keystone is running", source="keystone") from None  # fmt: skip
    except ks_exceptions.Unauthorized:
        raise ConfigError(f"{where} refused the credentials of cloud {cloud!r} (HTTP 401): check them in clouds.yaml",
                          key=key) from None  # fmt: skip
    except ks_exceptions.ClientException as error:
        raise SourceError(f"{where}: {redact_text(str(error))}", source="keystone") from None


def _os_reason(text: str) -> str | None:
    """The OS-level reason nested deep inside requests' connection errors ("[Errno 111] Connection refused")."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return found.group(0).strip() if found else None


def region_of(proxy: Any, settings: OpenStackSettings, default: str) -> str:
    """The region written on resources: the settings', else the one the proxy talks to, else `default`."""
    return settings.region or getattr(proxy, "region_name", None) or default


def parse_version(text: str) -> Version:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def version_text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def negotiate(proxy: Any, wanted: str, *, key: str) -> str:
    """The microversion to send to `proxy`'s service (compute or block-storage).

    Raises ConfigError when the catalog has no such service or the cloud cannot answer `wanted`."""
    from keystoneauth1 import exceptions as ks_exceptions

    service = proxy.service_type
    try:
        data = proxy.get_endpoint_data()
    except ks_exceptions.ClientException as error:
        raise ConfigError(f"cannot discover {service}: {error}", key=key) from None
    if data is None:
        raise ConfigError(f"the catalog has no {service} endpoint", key=key)
    low = _pair(data.min_microversion, BASE_VERSION[service])
    high = _pair(data.max_microversion, BASE_VERSION[service])
    if wanted == "auto":
        return version_text(min(high, KNOWN_MAX[service]))
    version = parse_version(wanted)
    if not low <= version <= high:
        span = f"{version_text(low)} to {version_text(high)}"
        raise ConfigError(f"{service} at {data.url} answers microversions {span}, not {wanted}", key=key)
    if version > KNOWN_MAX[service]:
        log.warning("%s %s is newer than StackLedger knows (%s): answers may differ", service, wanted,
                    version_text(KNOWN_MAX[service]))  # fmt: skip
    return wanted


def _pair(discovered: Any, default: Version) -> Version:
    """keystoneauth's discovered (major, minor) — None for a service without microversions."""
    return (int(discovered[0]), int(discovered[1])) if discovered else default


# ---------------------------------------------------------------- JSON over the proxy


class Api:
    """GETs to one service through an openstacksdk proxy, at one microversion (None: identity)."""

    def __init__(
        self,
        proxy: Any,
        *,
        microversion: str | None = None,
        page_size: int = 1000,
        retries: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        self.proxy = proxy
        self.service = str(proxy.service_type)
        self.microversion = microversion
        self.page_size = page_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.requests = 0  # HTTP requests sent, every retry included

    def at_least(self, version: str) -> bool:
        return self.microversion is not None and parse_version(self.microversion) >= parse_version(version)

    def get(self, path: str, params: Mapping[str, str] | None = None, *, missing_ok: bool = False) -> Any:
        """The JSON body of GET `path` (relative to the service endpoint); None on 404 if `missing_ok`."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=MAX_BACKOFF_S),
            retry=retry_if_exception(lambda error: isinstance(error, TransientSourceError)),
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._once, path, dict(params or {}), missing_ok)

    def pages(
        self, path: str, key: str, params: Mapping[str, str] | None = None, *, paged: bool = True
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of the collection `key` at `path`, `page_size` items a page (`paged=False`:
        no `limit` sent, for calls that do not take one). A single object under `key` (Nova's
        `tenant_usage`) is a page of one, `{}` a page of none.

        The next page is asked for with the marker (and whatever else) the `<key>_links` /
        `links.next` href carries, sent to our own endpoint: behind a TLS proxy some clouds
        write next links with the wrong scheme or host."""
        query = {**(params or {}), **({"limit": str(self.page_size)} if paged else {})}
        seen: set[str] = set()
        while True:
            body = self.get(path, query)
            items = body.get(key) if isinstance(body, dict) else None
            if isinstance(items, dict):
                items = [items] if items else []
            if not isinstance(items, list):
                raise SourceError(f"GET {path}: the answer has no {key!r} list", source=self.service)
            yield items
            nxt = _next_query(body, key)
            if nxt is None:
                if isinstance(body, dict) and body.get("truncated"):  # Keystone's list_limit cut it short
                    raise SourceError(f"GET {path}: the list was truncated without a next link", source=self.service)
                return
            marker = nxt.get("marker", "")
            if not items or marker in seen:
                return  # an empty last page (Nova/Cinder link every full page), or a loop
            seen.add(marker)
            query = {**query, **nxt}

    def collect(
        self, path: str, key: str, params: Mapping[str, str] | None = None, *, paged: bool = True
    ) -> list[dict[str, Any]]:
        return [item for page in self.pages(path, key, params, paged=paged) for item in page]

    def _once(self, path: str, params: dict[str, str], missing_ok: bool) -> Any:
        from keystoneauth1 import exceptions as ks_exceptions
        from openstack import exceptions as sdk_exceptions

        self.requests += 1
        try:
            response = self.proxy.get(path, params=params, microversion=self.microversion, raise_exc=False)
        except (ks_exceptions.ConnectionError, ks_exceptions.RetriableConnectionFailure) as error:
            raise TransientSourceError(f"GET {path}: {error}", source=self.service) from None
        except (ks_exceptions.ClientException, sdk_exceptions.SDKException) as error:
            raise SourceError(f"GET {path}: {error}", source=self.service) from None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if status == 429 or status >= 500:
            raise TransientSourceError(f"GET {path}: HTTP {status}: {_message(response)}", source=self.service)
        if status >= 400:
            raise SourceError(f"GET {path}: HTTP {status}: {_message(response)}", source=self.service)
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"GET {path}: HTTP {status} with a body that is not JSON", source=self.service) from None


def _next_query(body: Any, key: str) -> dict[str, str] | None:
    """The query of the next-page link: Nova/Cinder `<key>_links` [{rel: next}], Keystone `links.next`."""
    if not isinstance(body, dict):
        return None
    href: Any = None
    links = body.get(f"{key}_links")
    if isinstance(links, list):
        href = next((link.get("href") for link in links if isinstance(link, dict) and link.get("rel") == "next"), None)
    elif isinstance(body.get("links"), dict):
        href = body["links"].get("next")
    if not isinstance(href, str) or not href:
        return None
    return dict(parse_qsl(urlsplit(href).query, keep_blank_values=True))


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.text)[:200]
    if isinstance(body, dict) and len(body) == 1:  # {"itemNotFound": {"code": 404, "message": "…"}}
        inner = next(iter(body.values()))
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:200]
    return str(body)[:200]


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("openstack: try %d failed (%s); retrying in %.1f s", state.attempt_number, error, wait)


# ---------------------------------------------------------------- timestamps


def naive_utc(value: Any) -> dt.datetime | None:
    """Any of the APIs' timestamps as naive UTC: Nova `…Z`, OS-SRV-USG and Cinder naive with
    microseconds (naive means UTC), Keystone `…Z`, `+00:00` offsets, a space separator. None/'' → None."""
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise SourceError(f"{value!r} is not an ISO 8601 time") from None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def iso_naive(instant: dt.datetime) -> str:
    """Naive UTC as Nova's os-simple-tenant-usage wants it: no zone, no Z (it rejects both)."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S")


def iso_z(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "KNOWN_MAX", "Api", "connect", "iso_naive", "iso_z", "naive_utc", "negotiate", "parse_version", "region_of",
    "version_text",
]  # fmt: skip
