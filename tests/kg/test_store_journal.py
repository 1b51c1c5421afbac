"""The embedded store's journal: records appended per write, replayed by other handles,
compacted into the snapshot; a torn last record (a writer that died mid-append) is ignored
and cut off, never replayed, and never corrupts the store."""
from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from kgrec.kg.errors import StoreError
from kgrec.kg.graph import GraphDelta, NodeRef
from kgrec.kg.store import embedded, journal
from kgrec.kg.store.embedded import EmbeddedStore

REPO = Path(__file__).resolve().parents[2]


def _add(store: EmbeddedStore, *item_ids: str) -> None:
    store.load(GraphDelta(nodes={"Item": pd.DataFrame({"id": list(item_ids), "title": [f"T {i}" for i in item_ids]})}))


def _items(store: EmbeddedStore) -> set[str]:
    return set(store.export().ids("Item"))


def _journal_records(folder: Path) -> list[tuple[int, bytes, int]]:
    with (folder / embedded.JOURNAL_FILE).open("rb") as handle:
        header = journal.read_header(handle)
        assert header is not None
        return list(journal.records(handle, header.size))


# --- the record format ---------------------------------------------------------------------


def test_records_round_trip_and_stop_before_a_torn_or_corrupt_one() -> None:
    head = journal.header_line("abc123", 7)
    data = head + journal.encode(8, b"first") + journal.encode(9, b"second")
    handle = io.BytesIO(data)
    header = journal.read_header(handle)
    assert header == journal.Header("abc123", 7, len(head))
    assert [(g, p) for g, p, _ in journal.records(handle, header.size)] == [(8, b"first"), (9, b"second")]
    assert list(journal.records(io.BytesIO(data), header.size))[-1][2] == len(data)
    third = journal.encode(10, b"third record")
    for cut in range(1, len(third)):  # every way an append can be cut short
        assert [g for g, _, _ in journal.records(io.BytesIO(data + third[:cut]), header.size)] == [8, 9]
    flipped = bytearray(third)
    flipped[-1] ^= 0x01  # whole, but one bit wrong
    assert [g for g, _, _ in journal.records(io.BytesIO(data + bytes(flipped)), header.size)] == [8, 9]


def test_a_header_cut_short_is_not_a_journal() -> None:
    line = journal.header_line("abc123", 7)
    assert journal.read_header(io.BytesIO(line[:-1])) is None
    assert journal.read_header(io.BytesIO(b"kgrec-graph 3 1 abc\n")) is None


# --- the embedded store on top of it -------------------------------------------------------


def test_a_write_appends_one_record_and_another_handle_replays_it(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    _add(store, "a")  # the first write of a store makes its snapshot
    snapshot = (tmp_path / embedded.GRAPH_FILE).stat()
    other = EmbeddedStore(tmp_path)
    _add(store, "b")
    _add(store, "c")
    assert (tmp_path / embedded.GRAPH_FILE).stat().st_ino == snapshot.st_ino  # not rewritten
    assert [g for g, _, _ in _journal_records(tmp_path)] == [2, 3]
    assert _items(other) == {"a", "b", "c"}
    _add(other, "d")
    assert _items(store) == {"a", "b", "c", "d"}


def test_a_torn_last_record_is_ignored_then_cut_off_by_the_next_writer(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    _add(store, "a")
    _add(store, "b")
    path = tmp_path / embedded.JOURNAL_FILE
    whole = path.stat().st_size
    op = ("merge", [("Item", [("torn", {"title": "never committed"})])], [])
    record = journal.encode(3, pickle.dumps(op))
    with path.open("ab") as handle:  # what a writer killed half-way through its append leaves
        handle.write(record[: len(record) // 2])
    reader = EmbeddedStore(tmp_path)
    assert _items(reader) == {"a", "b"}
    assert reader.node(NodeRef("Item", "torn")) is None
    _add(reader, "c")  # the next writer cuts the torn bytes off before appending
    assert [g for g, _, _ in _journal_records(tmp_path)] == [2, 3]
    assert path.stat().st_size == whole + len(journal.encode(3, pickle.dumps(_merge_of("c"), protocol=pickle.HIGHEST_PROTOCOL)))
    assert _items(EmbeddedStore(tmp_path)) == {"a", "b", "c"}
    assert _items(store) == {"a", "b", "c"}


def _merge_of(item_id: str) -> tuple[object, ...]:
    return ("merge", [("Item", [(item_id, {"title": f"T {item_id}"})])], [])


def test_a_record_with_a_bad_checksum_is_not_replayed(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    _add(store, "a")
    _add(store, "b")
    path = tmp_path / embedded.JOURNAL_FILE
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF  # the last record's payload damaged on disk
    path.write_bytes(bytes(data))
    assert _items(EmbeddedStore(tmp_path)) == {"a"}


def test_a_damaged_record_with_records_after_it_stops_writes_and_loses_nothing(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    for item in "abc":
        _add(store, item)
    path = tmp_path / embedded.JOURNAL_FILE
    first = _journal_records(tmp_path)[0][2]  # the end of record 2 ("b"): record 3 ("c") follows
    data = bytearray(path.read_bytes())
    data[first - 1] ^= 0xFF  # record 2's payload damaged, record 3 whole after it
    path.write_bytes(bytes(data))
    damaged = EmbeddedStore(tmp_path)
    assert _items(damaged) == {"a"}
    with pytest.raises(StoreError, match="damaged at byte"):
        _add(damaged, "d")
    assert path.read_bytes() == bytes(data)  # nothing cut off


def test_compaction_folds_the_journal_into_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "COMPACT_RECORDS", 3)
    store = EmbeddedStore(tmp_path)
    _add(store, "a")
    lagging = EmbeddedStore(tmp_path)  # reads at generation 1, then nothing until after the compaction
    assert _items(lagging) == {"a"}
    for item in "bcde":
        _add(store, item)
    # generations 2, 3, 4 were journalled, the third made a snapshot of generation 4; 5 follows it
    with (tmp_path / embedded.GRAPH_FILE).open("rb") as handle:
        assert embedded._header(handle)[:2] == (embedded.FORMAT, 4)
    assert [g for g, _, _ in _journal_records(tmp_path)] == [5]
    assert _items(lagging) == {"a", "b", "c", "d", "e"}
    assert _items(EmbeddedStore(tmp_path)) == {"a", "b", "c", "d", "e"}


def test_a_crash_between_snapshot_and_new_journal_replays_nothing_twice(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    _add(store, "a")
    _add(store, "b")
    _add(store, "c")
    old_journal = (tmp_path / embedded.JOURNAL_FILE).read_bytes()  # records 2 and 3
    store.remove_item("a")  # generation 4, journalled
    store._compact(store._generation)  # snapshot of generation 4 ...
    (tmp_path / embedded.JOURNAL_FILE).write_bytes(old_journal)  # ... and the old journal still there
    reopened = EmbeddedStore(tmp_path)
    assert _items(reopened) == {"b", "c"}  # records 2 and 3 are at or below the snapshot: skipped
    _add(reopened, "d")
    assert _items(EmbeddedStore(tmp_path)) == {"b", "c", "d"}


def test_a_journal_left_by_an_earlier_store_in_the_folder_is_not_replayed(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    _add(store, "a")
    _add(store, "b")
    stale = (tmp_path / embedded.JOURNAL_FILE).read_bytes()
    for name in (embedded.GRAPH_FILE, embedded.JOURNAL_FILE):
        (tmp_path / name).unlink()
    fresh = EmbeddedStore(tmp_path)
    _add(fresh, "z")
    (tmp_path / embedded.JOURNAL_FILE).write_bytes(stale)  # same generations, another lineage
    assert _items(EmbeddedStore(tmp_path)) == {"z"}
    assert _items(store) == {"z"}


def test_a_format_2_store_is_read_and_rewritten_as_format_3_on_the_first_write(tmp_path: Path) -> None:
    graph = nx.MultiDiGraph()
    graph.add_node(("Item", "old"), title="Old")
    with (tmp_path / embedded.GRAPH_FILE).open("wb") as handle:
        handle.write(b"kgrec-graph 2 12\n")
        pickle.dump(graph, handle)
    store = EmbeddedStore(tmp_path)
    assert _items(store) == {"old"}
    _add(store, "new")
    with (tmp_path / embedded.GRAPH_FILE).open("rb") as handle:
        fmt, generation, lineage = embedded._header(handle)
    assert (fmt, generation) == (embedded.FORMAT, 13) and lineage
    assert _items(EmbeddedStore(tmp_path)) == {"old", "new"}


def test_a_journal_that_skips_a_generation_is_a_clear_error(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    _add(store, "a")
    with (tmp_path / embedded.JOURNAL_FILE).open("ab") as handle:
        handle.write(journal.encode(5, pickle.dumps(_merge_of("x"))))
    with pytest.raises(StoreError, match="journal does not follow its snapshot"):
        EmbeddedStore(tmp_path)


def test_a_writer_killed_while_writing_loses_nothing_it_reported_written(tmp_path: Path) -> None:
    """A real process appending as fast as it can, killed with SIGKILL: every write it
    reported done is in the store, which opens and takes writes again."""
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import pandas as pd
        from pathlib import Path
        from kgrec.kg.graph import GraphDelta
        from kgrec.kg.store.embedded import EmbeddedStore
        store = EmbeddedStore(Path({str(tmp_path)!r}))
        n = 0
        while True:
            store.load(GraphDelta(nodes={{"Item": pd.DataFrame({{"id": [f"k{{n}}"], "description": ["x" * 200_000]}})}}))
            print(f"k{{n}}", flush=True)
            n += 1
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert writer.stdout is not None
    written = [writer.stdout.readline().strip() for _ in range(30)]
    writer.send_signal(signal.SIGKILL)
    rest, _ = writer.communicate(timeout=60)
    written += rest.split()
    store = EmbeddedStore(tmp_path)
    assert set(written) <= _items(store)
    _add(store, "after")
    assert set(written) | {"after"} <= _items(EmbeddedStore(tmp_path))
