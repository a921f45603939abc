"""JSON-lines sample files: one message per line, `-` for stdin, gzip recognised by its magic bytes.

Lines are yielded as raw bytes (the parser decodes them) with 1-based line numbers; blank lines
are skipped but still counted, so a reported line number is the one an editor shows.
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from stackledger.errors import InputError

STDIN = "-"
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class LineFile:
    """One JSON-lines input. `name` is what the user typed (used in messages), `origin` is stable
    across working directories (used to fingerprint dead letters)."""

    def __init__(self, path: str, *, stdin: IO[bytes] | None = None) -> None:
        self.path = path
        self.is_stdin = path == STDIN
        self.name = "<stdin>" if self.is_stdin else path
        self.origin = "<stdin>" if self.is_stdin else str(Path(path).resolve())
        self._stdin = stdin
        self._raw: IO[bytes] | None = None

    @property
    def size(self) -> int | None:
        """Bytes on disk (compressed for .gz), or None when unknown (stdin, pipes)."""
        if self.is_stdin:
            return None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_size if stat.st_size > 0 else None

    def position(self) -> int:
        """Bytes of the underlying file consumed so far, for progress bars."""
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return 0

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) for each non-blank line. Raises InputError(where=name) when the
        file cannot be opened or read (after yielding the lines read before the failure)."""
        raw = self._open()
        self._raw = raw
        number = 0
        try:
            stream: Iterable[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if _is_gzip(raw) else raw
            for number, line in enumerate(stream, 1):
                if number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :]
                if line.strip():
                    yield number, line
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"cannot read after line {number}: {_why(exc)}", where=self.name) from None
        finally:
            if not self.is_stdin:
                raw.close()

    def _open(self) -> IO[bytes]:
        if self.is_stdin:
            return self._stdin if self._stdin is not None else sys.stdin.buffer
        try:
            if os.path.isdir(self.path):
                raise InputError("is a directory", where=self.name)
            return open(self.path, "rb")  # closed by lines()
        except OSError as exc:
            raise InputError(f"cannot open: {_why(exc)}", where=self.name) from None


def iter_lines(paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """(location, raw line) over several files, location like 'samples.jsonl line 12'."""
    for path in paths:
        source = LineFile(path)
        for number, line in source.lines():
            yield f"{source.name} line {number}", line


def _is_gzip(raw: IO[bytes]) -> bool:
    peek = getattr(raw, "peek", None)
    if peek is not None:
        return bytes(peek(2)[:2]) == _GZIP_MAGIC
    return False  # unbuffered stream: read as plain text


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


__all__ = ["STDIN", "LineFile", "iter_lines"]
