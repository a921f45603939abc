"""The CLI's last word on an error: one line, `stackledger: error: …`, exit status 2.

Errors are translated where they happen into the `stackledger.errors` hierarchy, with a message
naming the thing (file and key, environment variable, database host:port, topic and brokers, URL
without userinfo) and what to do. What still arrives here untranslated gets the same one line:

- an OS error names its path(s) and the reason (`--out` naming a file, a folder that cannot be
  created, a permission refused);
- an HTTP failure (requests) names the URL without its userinfo; a Kafka error names itself;
- a pydantic validation error lists the keys and what was expected, never the input values;
- anything else is `unexpected <Type>: <message>`, pointing at `-vv`.

Every line and every traceback goes through `stackledger.redact.redact_text`. With `-vv` the
traceback (causes included, redacted) is printed first, so the error line stays the last one.
Imports nothing heavy: the error types are recognised by their module, not imported.
"""

from __future__ import annotations

import sys

from stackledger.cli import EXIT_ERROR
from stackledger.errors import StackLedgerError
from stackledger.redact import first_line, redact_exception, redact_text, strip_userinfo


def report(error: BaseException, *, traceback: bool) -> int:
    """Print `error` as one line on stderr (after its redacted traceback when asked); the exit status."""
    if traceback:
        print(redact_exception(error), end="", file=sys.stderr)
    print(f"stackledger: error: {error_line(error)}", file=sys.stderr)
    return EXIT_ERROR


def error_line(error: BaseException) -> str:
    """What went wrong, on one line and without secrets (module docstring)."""
    return first_line(redact_text(_describe(error))) or type(error).__name__


def _describe(error: BaseException) -> str:
    if isinstance(error, StackLedgerError):
        return str(error)
    if isinstance(error, OSError) and error.filename is not None:
        return _os_error(error)
    module = type(error).__module__.split(".")[0]
    if module == "requests":
        return _http_error(error)
    if module == "kafka":
        return f"kafka: {type(error).__name__}: {error}; check kafka.bootstrap_servers and that the brokers run"
    if module in ("pydantic", "pydantic_core") and hasattr(error, "errors"):
        return _validation_error(error)
    if module == "sqlalchemy":
        original = getattr(error, "orig", None)
        return f"database error: {original if original is not None else error}"
    text = str(error)
    return f"unexpected {type(error).__name__}{': ' + text if text else ''} (-vv shows where)"


_OS_ADVICE = {
    FileExistsError: "it already exists",
    FileNotFoundError: "no such file or directory",
    IsADirectoryError: "it is a directory, not a file",
    NotADirectoryError: "a part of the path is not a directory",
    PermissionError: "permission denied",
}


def _os_error(error: OSError) -> str:
    paths = " → ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    reason = next((text for kind, text in _OS_ADVICE.items() if isinstance(error, kind)), None)
    return f"{paths}: {reason or error.strerror or type(error).__name__}; check the path and its permissions"


def _http_error(error: BaseException) -> str:
    request = getattr(error, "request", None)
    url = getattr(request, "url", None)
    target = f" {strip_userinfo(str(url))}" if url else ""
    response = getattr(error, "response", None)
    status = f": HTTP {response.status_code}" if response is not None else f": {type(error).__name__}"
    return f"HTTP request to{target or ' a server'} failed{status}; check the URL and that the server is reachable"


def _validation_error(error: BaseException) -> str:
    problems = error.errors(include_input=False)  # type: ignore[attr-defined]
    described = [
        f"{'.'.join(str(part) for part in problem['loc']) or 'value'}: {problem['msg']}" for problem in problems
    ]
    return "; ".join(described) or str(type(error).__name__)


__all__ = ["EXIT_ERROR", "error_line", "report"]
