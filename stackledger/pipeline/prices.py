"""Public price books at the edges: load (packaged + the user's file), show, update, and the
pricing function `stackledger rate` uses for the `aws` and `digitalocean` books.

- `load_price_book(settings)`: the packaged books with `baselines.price_overrides` applied
  (its rows replace packaged rows of the same provider, region, SKU and unit — or the whole
  tier group they belong to — and add the rest).
- `update_prices(settings, aws=…, digitalocean=…)`: read the official AWS Price List offer
  JSON and DigitalOcean `/v2/sizes` JSON from files or URLs and merge their rows into the
  user's price book file (written whole, atomically).
- `baseline_pricer(settings, provider)`: daily usage → that book's cost lines and findings
  (`transforms.findings.Priced`), converted into the rate card's currency with `fx` (the models
  come from the settings layer: `settings.baselines.config(provider)`, `settings.fx_rates()`),
  volume type ids resolved through the Cinder types the store holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
import requests

from stackledger.errors import ConfigError, InputError, SourceError, TransientSourceError
from stackledger.pipeline.base import store_for
from stackledger.ratecard import load_rate_card
from stackledger.redact import strip_userinfo
from stackledger.schema import COST_COLUMNS, empty_frame
from stackledger.settings import Settings
from stackledger.store.volume_types import volume_type_names
from stackledger.transforms import pricebooks
from stackledger.transforms.baselines import BASELINE_COLUMNS, rate_baseline
from stackledger.transforms.findings import Priced, empty_findings, is_type_id
from stackledger.transforms.pricebooks.official import load_json, parse_aws_offer, parse_do_sizes
from stackledger.window import utcnow

log = logging.getLogger(__name__)

PROVIDERS: Final = pricebooks.PROVIDERS
TIMEOUT: Final = 300  # seconds: a regional EC2 offer file is hundreds of MB
DO_TOKEN_ENV: Final = "DIGITALOCEAN_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret


# ---------------------------------------------------------------- loading


def load_price_book(settings: Settings) -> pd.DataFrame:
    """Packaged rows with the user's file (if configured) applied."""
    book = pricebooks.packaged_price_book()
    path = settings.baselines.price_overrides
    if path is None:
        return book
    return pricebooks.merge_price_books(book, read_price_file(path, must_exist=True))


def read_price_file(path: Path, *, must_exist: bool) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(
                "price book file does not exist: create it with `stackledger prices update`, or remove the key",
                file=str(path),
                key="baselines.price_overrides",
            ) from None
        return pricebooks.empty_price_book()
    except OSError as exc:
        raise ConfigError(f"cannot read price book: {exc.strerror}", file=str(path)) from None
    return pricebooks.parse_price_book(text, source=str(path))


def report_currency(settings: Settings) -> str:
    """The rate card's currency: every report and converted baseline line is in it."""
    return load_rate_card(settings.rate_card).currency


def show_prices(
    settings: Settings, *, provider: str | None = None, region: str | None = None, kind: str | None = None
) -> pd.DataFrame:
    book = pricebooks.rows_of(load_price_book(settings), provider=provider, region=region, kind=kind)
    return pricebooks.sort_price_book(book)


# ---------------------------------------------------------------- rating


def baseline_pricer(settings: Settings, provider: str) -> Callable[[pd.DataFrame], Priced]:
    """The function `stackledger rate` prices book `provider` with. A provider not in
    `baselines.providers` rates nothing (its lines and findings in the window are removed)."""
    if provider not in settings.baselines.providers:
        return lambda daily: Priced(empty_frame({**COST_COLUMNS, **BASELINE_COLUMNS}), empty_findings())
    book = load_price_book(settings)
    config = settings.baselines.config(provider)
    currency = report_currency(settings)
    rates = settings.fx_rates()
    if not any(rate.target == currency for rate in rates) and currency != "USD":
        log.warning("no fx rate into %s: %s lines stay in USD (add `fx` to the settings)", currency, provider)
    types = volume_type_resolver(settings)
    return lambda daily: rate_baseline(daily, book, config, currency=currency, fx=rates, volume_types=types(daily))


def volume_type_resolver(settings: Settings) -> Callable[[pd.DataFrame], Mapping[str, str]]:
    """usage -> the Cinder volume types (id -> name) to resolve its volume type ids with: read from
    the store once, on the first usage that carries a type id (none: nothing to read)."""
    loaded: dict[str, str] = {}
    read = False

    def types(usage: pd.DataFrame) -> Mapping[str, str]:
        nonlocal read
        if not read and any(is_type_id(value) for value in pd.unique(usage["volume_type"].to_numpy(dtype=object))):
            loaded.update(volume_type_names(store_for(settings)))
            read = True
        return loaded

    return types


# ---------------------------------------------------------------- updating


@dataclass(frozen=True)
class UpdateResult:
    path: Path
    rows: dict[str, int]  # provider -> rows read from its official file(s)
    total: int  # rows in the user's price book file after the update


def update_prices(
    settings: Settings,
    *,
    aws: Sequence[str] = (),
    digitalocean: Sequence[str] = (),
    today: dt.date | None = None,
) -> UpdateResult:
    """Read official price files/URLs and merge their rows into `baselines.price_overrides`."""
    path = settings.baselines.price_overrides
    if path is None:
        raise ConfigError(
            "name the user price book file to write in baselines.price_overrides", key="baselines.price_overrides"
        )
    if not aws and not digitalocean:
        raise ConfigError("give --aws and/or --digitalocean", key="prices update")
    fetched = today or utcnow().date()
    parts = [parse_aws_offer(_read_json(origin), origin=origin) for origin in aws]
    parts += [parse_do_sizes(_read_do_sizes(origin), origin=origin, fetched=fetched) for origin in digitalocean]
    counts = {"aws": sum(len(p) for p in parts[: len(aws)]), "digitalocean": sum(len(p) for p in parts[len(aws) :])}
    for provider, origins in (("aws", aws), ("digitalocean", digitalocean)):
        if origins and counts[provider] == 0:
            raise InputError(f"no {provider} prices found", where=", ".join(origins))
    fresh = pd.concat(parts, ignore_index=True)
    merged = pricebooks.merge_price_books(read_price_file(path, must_exist=False), fresh)
    text = pricebooks.render_price_book(pricebooks.sort_price_book(merged))
    pricebooks.parse_price_book(text, source=str(path))  # what we write must read back
    _write_atomically(path, text)
    log.info("prices update: %s → %s (%d rows)", counts, path, len(merged))
    return UpdateResult(path, counts, len(merged))


def _read_json(origin: str, *, headers: dict[str, str] | None = None) -> Any:
    return load_json(_read_bytes(origin, headers=headers), where=origin)


def _read_do_sizes(origin: str) -> Any:
    """A /v2/sizes document; from the API, every page (`links.pages.next`) joined."""
    headers = {}
    token = os.environ.get(DO_TOKEN_ENV)
    if token and origin.startswith("https://api.digitalocean.com/"):
        headers["Authorization"] = f"Bearer {token}"
    document = _read_json(origin, headers=headers)
    pages = 0
    nxt = _next_page(document)
    while nxt and _is_url(origin) and pages < 100:
        page = _read_json(nxt, headers=headers)
        document["sizes"].extend(page.get("sizes", []))
        nxt, pages = _next_page(page), pages + 1
    return document


def _next_page(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    value = document.get("links", {}).get("pages", {}).get("next")
    return str(value) if value else None


def _is_url(origin: str) -> bool:
    return origin.startswith(("http://", "https://"))


def _read_bytes(origin: str, *, headers: dict[str, str] | None = None) -> bytes:
    if not _is_url(origin):
        try:
            return Path(origin).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=origin) from None
    shown = strip_userinfo(origin)  # the URL as errors name it: no user, password or token
    try:
        response = requests.get(origin, headers=headers or {}, timeout=TIMEOUT)
    except (requests.ConnectionError, requests.Timeout) as exc:
        errno = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))  # requests nests the OS reason deep inside
        reason = errno.group(0).strip() if errno else type(exc).__name__
        raise TransientSourceError(f"cannot fetch ({reason}): check the URL and the network", source=shown) from None
    except requests.RequestException as exc:
        raise SourceError(f"cannot fetch: {type(exc).__name__}", source=shown) from None
    if response.status_code >= 500:
        raise TransientSourceError(f"HTTP {response.status_code}", source=shown)
    if response.status_code != 200:
        raise SourceError(f"HTTP {response.status_code}", source=shown)
    return response.content


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
