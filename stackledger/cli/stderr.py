"""The CLI's log handler (imported once a command runs: `--help` never loads `logging`)."""

from __future__ import annotations

import logging
import sys


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at emit time (tests swap it between runs)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass
