"""A catalog folder's interactions are streamed in chunks: the same rows stored and the same
rejections reported as when the whole catalog is read at once, whatever the chunk size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kgrec.kg.reader
from kgrec.kg.errors import CatalogError
from kgrec.kg.reader import read_table, read_table_chunks
from kgrec.kg.store.base import GraphStore
from helpers import ingest_folder, ingest_in_memory, normalised, write_catalog

ITEMS = "item_id,title\n" + "".join(f"i{n},Item {n}\n" for n in range(20))


def interactions(n: int, seed: int = 0) -> str:
    """Rows with repeats spread over the file (so across chunks), bad rows and a quoted
    field that spans lines."""
    rng = np.random.default_rng(seed)
    rows = ["user_id,item_id,rating,timestamp"]
    for line in range(n):
        user, item = rng.integers(0, 30), rng.integers(0, 22)  # i20, i21 are unknown items
        rating = "five" if line % 97 == 5 else str(rng.integers(1, 6))
        stamp = "" if line % 7 == 0 else str(881250000 + int(rng.integers(0, 5)) * 1000)
        rows.append(f"u{user},i{item},{rating},{stamp}")
    rows.insert(n // 2, '"u7\nstill u7",i3,4,881250000')  # a user id with a line break: one record
    return "\n".join(rows) + "\n"


def test_chunks_read_the_same_rows_and_rejections(tmp_path: Path) -> None:
    path = tmp_path / "interactions.csv"
    path.write_text(interactions(3_000) + 'u1,"never closed,3,\nu2,i1,3,\n')
    whole = read_table(path, ("user_id", "item_id"))
    chunks = list(read_table_chunks(path, ("user_id", "item_id"), chunk_bytes=997))
    assert len(chunks) > 20
    lines = np.concatenate([c.frame[kgrec.kg.reader.LINE].to_numpy() for c in chunks])
    assert lines.tolist() == whole.frame[kgrec.kg.reader.LINE].tolist()
    rows = [row for c in chunks for row in c.frame.drop(columns=kgrec.kg.reader.LINE).values.tolist()]
    assert rows == whole.frame.drop(columns=kgrec.kg.reader.LINE).values.tolist()
    assert [(r.line, r.reason) for c in chunks for r in c.rejections] == [(r.line, r.reason) for r in whole.rejections]


def test_an_empty_or_headless_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "interactions.csv"
    path.write_text("")
    with pytest.raises(CatalogError, match="interactions.csv is empty"):
        list(read_table_chunks(path, ("user_id", "item_id")))
    path.write_text("user,item\nu1,i1\n")
    with pytest.raises(CatalogError, match="missing required column"):
        list(read_table_chunks(path, ("user_id", "item_id")))


def test_streamed_ingest_matches_the_whole_catalog(store: GraphStore, settings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_catalog(tmp_path / "c", items=ITEMS, interactions=interactions(2_000),
                           users="user_id,age\nu1,30\nu2,40\n")
    whole = ingest_in_memory(folder, store, settings)
    expected = normalised(store.export())
    store.clear()
    monkeypatch.setattr(kgrec.kg.reader, "CHUNK_BYTES", 1_500)  # dozens of chunks
    monkeypatch.setattr("kgrec.kg.ingest.WRITE_ROWS", 100)
    streamed = ingest_folder(folder, store, settings)
    assert normalised(store.export()) == expected
    assert streamed.report.accepted == whole.report.accepted
    assert streamed.report.rejected == whole.report.rejected
    assert {r.reason for r in streamed.report.rejections} >= {"duplicate_interaction", "unknown_item", "invalid_rating"}
    assert [(r.file, r.line, r.field, r.reason, r.message) for r in streamed.report.rejections] == \
        [(r.file, r.line, r.field, r.reason, r.message) for r in whole.report.rejections]
    assert streamed.report.written == whole.report.written
