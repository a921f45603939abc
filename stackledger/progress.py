"""Progress for work a person waits for: a callback type the pipeline reports through, and the
one-line bar the CLI draws with it.

`Progress` is what a long pipeline step accepts (`rate_window`, `render_reports`, …):
`progress(done, total, what)` says `done` of `total` units are finished and `what` is being
worked on now (or was last, once `done == total`). Steps call it from the process that called
them and never draw anything themselves.

`ProgressBar` draws one line on stderr, `label [#####.....] 3/8 files csv 4s`, redrawn in
place and wiped by `close()`, so what a command prints on stdout stays clean. Whether to draw
at all is the caller's decision: the CLI draws only when stderr is a terminal and `-q` was
not given (`stackledger.cli.common.show_progress`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, TextIO

Progress = Callable[[int, int, str], None]


def silent(done: int, total: int, what: str) -> None:
    """The `Progress` of a caller that did not ask for one."""


CLEAR_LINE: Final = "\r\x1b[K"  # back to the line's start, erase it: each redraw starts so


class ProgressBar:
    """One line on stderr. `unit` None shows the share done (` 42%`), else `done/total unit`.

    `update` redraws at most every `interval` seconds unless `force` is given (a caller that
    reports every few lines of input would otherwise spend its time drawing); calling the bar
    as a `Progress` callback always redraws, since each call starts a new step.
    """

    WIDTH: Final = 30

    def __init__(self, label: str, *, unit: str | None = None, interval: float = 0.2, stream: TextIO | None = None):
        self.label = label
        self.unit = unit
        self.interval = interval
        self._stream = stream
        self._began = time.monotonic()
        self._last = float("-inf")  # the first update always draws
        self._drawn = False

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr  # looked up when drawing: tests swap sys.stderr

    def update(self, done: float, total: float | None = None, detail: str = "", *, force: bool = False) -> None:
        """Draw `done` of `total` (no bar when the total is unknown), then `detail`."""
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = f"{now - self._began:.0f}s"
        if not total:
            text = " ".join(part for part in (f"{self.label}:", detail, elapsed) if part)
        else:
            fraction = min(max(done / total, 0.0), 1.0)
            filled = int(fraction * self.WIDTH)
            count = f"{fraction:4.0%}" if self.unit is None else f"{done:g}/{total:g} {self.unit}".rstrip()
            bar = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}]"
            text = " ".join(part for part in (self.label, bar, count, detail, elapsed) if part)
        self.stream.write(f"{CLEAR_LINE}{text}")
        self.stream.flush()
        self._drawn = True

    def __call__(self, done: int, total: int, what: str) -> None:
        self.update(done, total, what, force=True)

    def close(self) -> None:
        """Wipe the line, if anything was drawn."""
        if self._drawn:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
