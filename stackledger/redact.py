"""Secrets never leave: the one helper that masks them in settings, URLs, messages, logs and tracebacks.

`config show`, validation errors, the CLI's error line and its `-vv` traceback, and every log
record passing the CLI's handler (`RedactingFilter`) go through here. Masked, as `MASK`:

- the password of a URL's userinfo (`postgresql+psycopg://user:***@db:5432/ledger`, Kafka, SMTP,
  Gnocchi URLs alike) and URL query parameters named like a secret (`?token=***`);
- the value of every key named like a secret (`is_secret_name`: password, secret, token, key,
  cookie, authorization, credentials …), in mappings and lists at any depth (`redact_value`), and
  in text as `name=value`, `'name': 'value'` or `"name": "value"` (`redact_text`);
- HTTP credentials in text: the value of `Authorization`, `Proxy-Authorization`, `X-Auth-Token`,
  `X-Subject-Token`, `Cookie`, `Set-Cookie`, `X-Api-Key` and `X-…-Token` headers, `Bearer …`;
- every value `remember`ed, wherever it appears, as written or percent-encoded: the secrets of the
  loaded settings (`stackledger.settings.load_settings` remembers them, including the passwords
  of URLs and webhook header values), the environment's variables named like a secret
  (`OS_PASSWORD`, `STACKLEDGER__…__PASSWORD`, `PGPASSWORD` …) and the passwords of URLs in the
  environment, and clouds.yaml credentials once openstacksdk has read them.

The remembered values are process-wide on purpose, like Airflow's secrets masker: a log line
written by a library deep inside a command cannot be handed the settings, but must not carry a
password either. Values shorter than `MIN_REMEMBERED` characters are not remembered (masking
every "a" would make every line unreadable); the patterns above still cover them.

This module imports only the standard library: the CLI loads it before any command runs.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

MASK = "***"
MIN_REMEMBERED = 4

# Words that make a key, header or variable name a secret's (checked per word of the name, so
# `ssl_keyfile`, `auth_mode` or `monkey` are not secrets, and `apiKey`, `X-Auth-Token` are).
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "secrets", "token", "tokens", "key",
                           "apikey", "cookie", "cookies", "authorization", "credential", "credentials"})  # fmt: skip
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

# A name as it is written in text: letters, digits and separators, containing a secret word.
_NAME = (r"[A-Za-z0-9_.\-]*(?:password|passwd|passphrase|secret|token|api[_\-]?key|access[_\-]?key|"
         r"private[_\-]?key|secret[_\-]?key|cookie|authorization|credentials?)[A-Za-z0-9_\-]*|key")  # fmt: skip
_URL_PASSWORD = re.compile(
    # the password runs to the last "@" before the host (an unencoded "@" inside it is still masked)
    r"(?P<head>\b[A-Za-z][A-Za-z0-9_+.\-]*://[^\s:@/'\"<>]*):(?P<password>[^\s/'\"<>]*)@"
)
# a value does not end in punctuation: "…?token=abc: cannot fetch" keeps its colon
_QUERY_SECRET = re.compile(rf"(?i)(?P<head>[?&;](?:{_NAME})=)(?P<value>[^&#\s'\"<>]*[^&#\s'\"<>:.,;)\]])")
_HEADER = re.compile(
    r"(?i)(?P<head>\b(?:proxy-)?(?:authorization|x-auth-token|x-subject-token|set-cookie|cookie|x-api-key|"
    r"x-[a-z0-9\-]*-token)['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\"\r\n,}]+)"
)
_BEARER = re.compile(r"(?i)(?P<head>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]{4,})")
_QUOTED_PAIR = re.compile(
    rf"(?i)(?P<head>(?P<q>['\"])(?:{_NAME})(?P=q)\s*:\s*)(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,}}\]]+)"
)
_ASSIGNMENT = re.compile(
    rf"(?i)(?P<head>(?<![A-Za-z0-9_.\-])(?:{_NAME})\s*=\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;&)]*[^\s,;&):.])"
)

_remembered: set[str] = set()


def is_secret_name(name: str) -> bool:
    """Whether a key, header or environment variable named `name` holds a secret."""
    words = [word.lower() for word in _WORD.findall(name)]
    return any(word in _SECRET_WORDS or word.endswith(_SECRET_SUFFIXES) for word in words)


def remember(*values: object) -> None:
    """Mask these values wherever they appear from now on (strings; None and short ones are ignored)."""
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_REMEMBERED:
            continue
        _remembered.add(value)
        encoded = quote(value, safe="")
        if encoded != value:
            _remembered.add(encoded)  # as it is written inside a URL
        if "://" in value:  # a secret URL (Slack's webhook): HTTP logs show its path alone
            parts = urlsplit(value)
            for tail in (parts.path, parts.path + (f"?{parts.query}" if parts.query else "")):
                if len(tail) > MIN_REMEMBERED and tail.strip("/"):
                    _remembered.add(tail)


def remember_in(value: Any, key: str | None = None) -> None:
    """Remember the secrets inside `value`: values of secret-named keys, `SecretStr` values and
    URL passwords, in mappings, lists and pydantic models at any depth."""
    if value is None:
        return
    if hasattr(value, "get_secret_value"):
        remember(value.get_secret_value())
    elif isinstance(value, Mapping):
        for name, item in value.items():
            remember_in(item, str(name))
    elif not isinstance(value, type) and hasattr(type(value), "model_fields"):  # a pydantic model, duck-typed
        for name in type(value).model_fields:
            remember_in(getattr(value, name, None), name)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            remember_in(item, key)
    elif key is not None and is_secret_name(key) and isinstance(value, str | int | float):
        remember(str(value))
    elif isinstance(value, str):
        remember(*url_passwords(value))


def remember_environment(environ: Mapping[str, str]) -> None:
    """Remember the values of secret-named variables and the passwords of URLs in any variable."""
    for name, value in environ.items():
        if is_secret_name(name):
            remember(value)
        elif "://" in value:
            remember(*url_passwords(value))


def remembered() -> frozenset[str]:
    return frozenset(_remembered)


def forget() -> None:
    """Forget every remembered value: the state of a fresh process (tests running commands in one)."""
    _remembered.clear()


def url_passwords(text: str) -> list[str]:
    """The passwords of the URLs in `text` (as written, percent-encoding kept)."""
    return [found["password"] for found in _URL_PASSWORD.finditer(text) if found["password"]]


def redact_url(url: str) -> str:
    """`url` with its userinfo password and secret-named query parameters masked; never raises."""
    url = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@" if m["password"] else m[0], url)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}", url)


def strip_userinfo(url: str) -> str:
    """`url` without any user or password (`https://user:pw@host/x` → `https://host/x`), secret
    query parameters masked: how an error line names a server."""
    return redact_url(re.sub(r"^(?P<scheme>[A-Za-z][A-Za-z0-9_+.\-]*://)[^/@\s]*@", r"\g<scheme>", url.strip()))


def redact_text(text: str) -> str:
    """Free text (a message, a log line, a traceback) with every secret `MASK`ed (module docstring)."""
    for secret in sorted(_remembered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = redact_url(text)
    text = _HEADER.sub(lambda m: f"{m['head']}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)
    text = _QUOTED_PAIR.sub(_masked_pair, text)
    return _ASSIGNMENT.sub(_masked_pair, text)


def redact_value(value: Any, key: str | None = None) -> Any:
    """A copy of `value` (mappings, lists, scalars) fit to print: secret-named keys' values and
    `SecretStr`s become `MASK`, strings go through `redact_text`."""
    if value is None or value == "":
        return value
    if hasattr(value, "get_secret_value") or (key is not None and is_secret_name(key)):
        return MASK
    if isinstance(value, Mapping):
        return {name: redact_value(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_exception(error: BaseException) -> str:
    """The traceback of `error` (its causes included), redacted: what `-vv` prints."""
    return redact_text("".join(traceback.format_exception(error)))


def _masked_pair(found: re.Match[str]) -> str:
    value = found["value"]
    if value in (MASK, "None", "null", "''", '""') or set(value.strip("'\"")) == {"*"}:
        return found[0]
    quote_char = value[0] if value[:1] in ("'", '"') else ""
    return f"{found['head']}{quote_char}{MASK}{quote_char}"


class RedactingFilter(logging.Filter):
    """Redacts every record that passes the handler it is attached to: its message, its
    traceback and its stack (`redact_text`). Records are changed in place, so handlers after
    this one see the redacted text too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(record.exc_text or "".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def first_line(text: str) -> str:
    """Multi-line text as one line (the CLI's error line): lines stripped and joined by ' '."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def mask_all(values: Iterable[str], text: str) -> str:
    """`text` with each of `values` masked (secrets a caller holds, not necessarily remembered)."""
    for secret in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


__all__ = [
    "MASK", "RedactingFilter", "first_line", "is_secret_name", "mask_all", "redact_exception", "redact_text",
    "redact_url", "redact_value", "remember", "remember_environment", "remember_in", "remembered", "strip_userinfo",
    "url_passwords",
]  # fmt: skip
