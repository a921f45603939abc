"""collectors.files: JSON-lines inputs, plain, gzip and stdin, with line numbers an editor shows."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from stackledger.collectors.files import LineFile, iter_lines
from stackledger.errors import InputError

TEXT = b'{"a": 1}\n\n   \n{"b": 2}\r\n{"c": 3}'  # blank lines skipped but counted; CRLF; no final newline


def test_plain_file_yields_numbered_non_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_bytes(TEXT)
    assert list(LineFile(str(path)).lines()) == [(1, b'{"a": 1}\n'), (4, b'{"b": 2}\r\n'), (5, b'{"c": 3}')]


def test_gzip_is_recognised_by_content_whatever_the_name(tmp_path: Path) -> None:
    for name in ("samples.jsonl.gz", "samples.jsonl"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(TEXT))
        assert [n for n, _ in LineFile(str(path)).lines()] == [1, 4, 5]


def test_stdin_and_a_utf8_bom(tmp_path: Path) -> None:
    source = LineFile("-", stdin=io.BufferedReader(io.BytesIO(b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n')))
    assert source.name == "<stdin>" and source.size is None
    assert list(source.lines()) == [(1, b'{"a": 1}\n'), (2, b'{"b": 2}\n')]


def test_iter_lines_names_file_and_line(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"{}\n\n{}\n")
    second.write_bytes(b"{}\n")
    assert [loc for loc, _ in iter_lines([str(first), str(second)])] == [
        f"{first} line 1",
        f"{first} line 3",
        f"{second} line 1",
    ]


def test_missing_file_and_directory_raise_input_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.jsonl: cannot open: No such file or directory"):
        list(LineFile(str(tmp_path / "nope.jsonl")).lines())
    with pytest.raises(InputError, match="is a directory"):
        list(LineFile(str(tmp_path)).lines())


def test_truncated_gzip_yields_what_it_could_then_fails(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(20000)))
    path.write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(InputError, match="cannot read after line"):
        for number, _ in LineFile(str(path)).lines():
            seen.append(number)
    assert seen  # lines before the damage were delivered


def test_origin_is_absolute_so_dead_letters_fingerprint_the_same_file_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.jsonl").write_bytes(b"{}\n")
    monkeypatch.chdir(tmp_path)
    assert LineFile("s.jsonl").origin == LineFile(str(tmp_path / "s.jsonl")).origin == str(tmp_path / "s.jsonl")
