"""JSON decoding for the sample parser (`collectors.samples`), and the check that a decoded value
can be stored exactly: `loads(text) -> (value, suspicious)`, `unstorable(value, path)`,
`json_kind(value)` (a value's JSON type, for error messages)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

try:
    import msgspec
except ImportError:  # pragma: no cover - an optional accelerator
    msgspec = None  # type: ignore[assignment]

_JSON_TYPES: Final = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


class _NonFinite(Exception):
    """NaN, Infinity or a number too large for a float (1e999): rare, so such text is decoded again
    with them allowed, and every sample of it walked (`unstorable` names the field)."""


def _no_constants(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in _INFINITE:
        raise _NonFinite(text)
    return value


_INFINITE: Final = (math.inf, -math.inf)
_FINITE: Final = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float)
# msgspec (when installed) decodes faster. Where it succeeds its result equals json's (numbers,
# duplicate keys, escapes); everything it refuses (NaN, 1e999, lone surrogates, BOMs, UTF-16, bad
# JSON) goes through json below, so messages and error reasons do not depend on it.
_FAST: Final = msgspec.json.Decoder().decode if msgspec is not None else None


def loads(text: bytes | bytearray | str) -> tuple[Any, bool]:
    """`json.loads(text)`, and whether the result may hold a value no database column can store
    (NUL, a lone surrogate, NaN or Infinity): a cheap gate, so that only such messages are walked
    in full (`unstorable`). msgspec refuses all but NUL, which only a `\\u0000` escape can spell."""
    if _FAST is not None:
        try:
            return _FAST(text), _escapes_nul(text)
        except Exception:  # noqa: S110  # any refusal: json decides, with its own error messages
            pass
    if not isinstance(text, str):
        text = text.decode(json.detect_encoding(text), "surrogatepass")  # what json.loads does
    try:
        return _FINITE.decode(text), _suspicious(text)
    except _NonFinite:
        return json.loads(text), True


def _escapes_nul(text: bytes | bytearray | str) -> bool:
    """Could JSON text that msgspec decoded hold NUL? Only through a `\\u0000` escape (a raw NUL is
    invalid JSON); a six-byte needle is also found three times faster than `\\u`, which every
    envelope holds many of."""
    if isinstance(text, str):
        return "\\u0000" in text
    return b"\\u0000" in text


def _suspicious(text: str) -> bool:
    """Could JSON text that json decoded (msgspec refused it, or is not installed) hold NUL or a lone
    surrogate? Either can come from a `\\u` escape; a surrogate also from the raw text, as json
    decodes UTF-8 with surrogatepass, and anything from UTF-16/32 text. NaN and Infinity are flagged
    while decoding."""
    return "\\u" in text or not text.isascii()


def unstorable(value: object, path: str, depth: int = 0) -> str | None:
    """Why the database could not store `value` exactly (None when it can); names the field."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path or 'a key'} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path or 'a key'} contains invalid Unicode (a lone surrogate)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is not a finite number ({value})"
    if depth > 64:
        return f"{path} is nested too deeply"
    if isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            problem = unstorable(key, "", depth + 1) or unstorable(item, inner, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = unstorable(item, f"{path}[{index}]", depth + 1)
            if problem:
                return problem
    return None


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), type(value).__name__)


__all__ = ["json_kind", "loads", "unstorable"]
