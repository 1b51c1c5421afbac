"""kg.files: a file is replaced all or nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from kgrec.kg.files import TEMPORARY_SUFFIX, write_atomically


def test_the_file_is_replaced_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    write_atomically(path, lambda handle: handle.write(b"new"))
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_a_failing_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def half_then_fail(handle) -> None:  # type: ignore[no-untyped-def]
        handle.write(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert not list(tmp_path.glob(f"*{TEMPORARY_SUFFIX}"))
