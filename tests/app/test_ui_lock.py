"""The app's read-write lock (app/ui/lock.py)."""
from __future__ import annotations

import threading

from kgrec.app.ui.lock import ReadWriteLock


def test_read_write_lock_excludes_readers_while_writing() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    with lock.writing():
        reader = threading.Thread(target=lambda: _read(lock, events))
        reader.start()
        reader.join(timeout=0.2)
        events.append("write done")
    reader.join(timeout=5)
    assert events == ["write done", "read"]
    with lock.reading(), lock.reading():  # readers share
        pass


def _read(lock: ReadWriteLock, events: list[str]) -> None:
    with lock.reading():
        events.append("read")


