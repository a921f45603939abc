"""collectors.files: JSON-lines inputs, plain, gzip and stdin, with line numbers an editor shows."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from stackledger.collectors.files import LineFile, block_lines, iter_lines
from stackledger.errors import InputError

TEXT = b'{"a": 1}\n\n   \n{"b": 2}\r\n{"c": 3}'  # blank lines skipped but counted; CRLF; no final newline


def test_plain_file_yields_numbered_non_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_bytes(TEXT)
    assert list(LineFile(str(path)).lines()) == [(1, b'{"a": 1}'), (4, b'{"b": 2}\r'), (5, b'{"c": 3}')]


def test_gzip_is_recognised_by_content_whatever_the_name(tmp_path: Path) -> None:
    for name in ("samples.jsonl.gz", "samples.jsonl"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(TEXT))
        assert [n for n, _ in LineFile(str(path)).lines()] == [1, 4, 5]


def test_stdin_and_a_utf8_bom(tmp_path: Path) -> None:
    source = LineFile("-", stdin=io.BufferedReader(io.BytesIO(b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n')))
    assert source.name == "<stdin>" and source.size is None
    assert list(source.lines()) == [(1, b'{"a": 1}'), (2, b'{"b": 2}')]


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


def test_truncated_gzip_in_blocks_names_the_last_whole_line_read(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(200_000)))
    path.write_bytes(data[: len(data) // 2])
    blocks = []
    with pytest.raises(InputError, match=r"cannot read after line (\d+)") as failed:
        blocks.extend(LineFile(str(path)).blocks(at_least=100_000))
    last = int(failed.value.reason.split()[4].rstrip(":"))
    numbers = [n for first, block in blocks for n, _ in block_lines(first, block)]
    assert numbers == list(range(1, last + 1))  # every whole line before the damage, once


def test_corrupt_gzip_data_is_an_input_error_after_the_lines_before_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl.gz"
    data = bytearray(gzip.compress(b"".join(b'{"n": %d, "pad": "%d"}\n' % (i, i * i) for i in range(200_000))))
    data[len(data) // 2 : len(data) // 2 + 64] = b"x" * 64  # damage in the middle of the deflate stream
    path.write_bytes(bytes(data))
    seen = []
    with pytest.raises(InputError, match=r"bad\.jsonl\.gz: cannot read after line \d+: "):
        for number, _ in LineFile(str(path)).lines():
            seen.append(number)
    assert seen and seen == list(range(1, len(seen) + 1))


def test_blocks_hold_whole_lines_numbered_as_the_file_is(tmp_path: Path) -> None:
    lines = [b'{"n": %d, "r": "%d"}' % (i, i**3) if i % 7 else b"" for i in range(400_000)]  # some blank
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + b"\n".join(lines), mtime=0))
    blocks = list(LineFile(str(path)).blocks(at_least=1_000_000))
    assert len(blocks) > 5
    assert all(block.endswith(b"\n") and len(block) >= 1_000_000 for _, block in blocks[:-1])
    got = [(n, line) for first, block in blocks for n, line in block_lines(first, block)]
    assert got == [(i + 1, line) for i, line in enumerate(lines) if line]
    assert got == list(LineFile(str(path)).lines())


def test_gzip_members_one_after_another_and_zero_padding_are_one_file(tmp_path: Path) -> None:
    path = tmp_path / "cat.jsonl.gz"  # `cat a.gz b.gz`, as logrotate users do
    path.write_bytes(gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n') + b"\0" * 16)
    assert list(LineFile(str(path)).lines()) == [(1, b'{"a": 1}'), (2, b'{"b": 2}')]


def test_origin_is_absolute_so_dead_letters_fingerprint_the_same_file_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.jsonl").write_bytes(b"{}\n")
    monkeypatch.chdir(tmp_path)
    assert LineFile("s.jsonl").origin == LineFile(str(tmp_path / "s.jsonl")).origin == str(tmp_path / "s.jsonl")
