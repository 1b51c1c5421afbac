"""Replacing a file all or nothing, for every file kgrec writes that a reader may open while
it is written (store snapshots and journals, checkpoints, embedding cache shards)."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMPORARY_SUFFIX = ".tmp"


def write_atomically(path: Path, write: Callable[[BinaryIO], object], prefix: str = ".") -> None:
    """Replace ``path`` with what ``write`` writes to the binary handle it is given: a
    temporary file of this writer's own in the same folder (``prefix``…``.tmp``), fsynced,
    renamed over ``path``, then the folder fsynced, so that a reader sees the old file or
    the new one, and a crash leaves at most a temporary file behind."""
    folder = path.parent
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
