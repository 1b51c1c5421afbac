"""The ingest report counts rows as new, updated or unchanged (GraphStore.compare, on both
stores): re-ingesting an unchanged catalog reads as nothing new."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kgrec.kg.ingest import check, ingest
from kgrec.kg.reader import read_catalog
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import GraphStore
from kgrec.kg.to_graph import catalog_to_delta
from conftest import FIXTURES

TINY = FIXTURES / "tiny"


def _ingest(folder: Path, store: GraphStore, settings: Settings) -> dict[str, dict[str, int]]:
    """Ingest a folder; first check that the store's own count agrees with the reference
    one (GraphStore.compare, over an export)."""
    catalog, files, rejections = read_catalog(folder)
    delta = catalog_to_delta(check(catalog, store, settings, files, rejections).clean)
    assert store.compare(delta) == GraphStore.compare(store, delta)
    return ingest(catalog, store, settings, files, rejections, progress=False).report.changes


@pytest.mark.parametrize("diff_share", [0.2, 1e9], ids=["diffed", "matched-row-by-row"])
def test_new_then_unchanged_then_updated(store: GraphStore, settings: Settings, tmp_path: Path, diff_share: float,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Neo4j diffs a relationship load large against its type with one read, else matches it row by row.
    monkeypatch.setattr("kgrec.kg.store.neo4j.DIFF_SHARE", diff_share)
    first = _ingest(TINY, store, settings)
    assert first["Item"] == {"new": 4, "updated": 0, "unchanged": 0}
    assert first["INTERACTED"] == {"new": 5, "updated": 0, "unchanged": 0}
    assert all(c["updated"] == 0 and c["unchanged"] == 0 for c in first.values())

    again = _ingest(TINY, store, settings)
    assert set(again) == set(first)
    assert all(c["new"] == 0 and c["updated"] == 0 for c in again.values()), again
    assert again["Item"]["unchanged"] == 4 and again["INTERACTED"]["unchanged"] == 5

    changed = tmp_path / "changed"
    shutil.copytree(TINY, changed)
    items = (changed / "items.csv").read_text().replace("Heat,A master thief", "Heat,A changed description of")
    (changed / "items.csv").write_text(items + "extra,Extra Film,Only in the second ingest.,2001\n")
    interactions = (changed / "interactions.csv").read_text().replace("1,heat,5,", "1,heat,4,")
    (changed / "interactions.csv").write_text(interactions)
    third = _ingest(changed, store, settings)
    assert third["Item"] == {"new": 1, "updated": 1, "unchanged": 3}
    assert third["INTERACTED"] == {"new": 0, "updated": 1, "unchanged": 4}
    assert third["DIRECTED_BY"] == {"new": 0, "updated": 0, "unchanged": 2}


def test_a_streamed_folder_ingest_counts_its_interactions_too(store: GraphStore, settings: Settings) -> None:
    from helpers import ingest_folder

    first = ingest_folder(TINY, store, settings).report.changes
    assert first["INTERACTED"] == {"new": 5, "updated": 0, "unchanged": 0} and first["Item"]["new"] == 4
    again = ingest_folder(TINY, store, settings).report.changes
    assert again["INTERACTED"] == {"new": 0, "updated": 0, "unchanged": 5}
    assert all(c["new"] == 0 and c["updated"] == 0 for c in again.values()), again
