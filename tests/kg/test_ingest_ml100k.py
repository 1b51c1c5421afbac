"""ml-100k with its knowledge graph, ingested into both stores: the same counts in each,
and again after a second ingest."""
from __future__ import annotations

from pathlib import Path

import pytest

from kgrec.app.commands.stats import summarise
from kgrec.kg.catalog import Catalog
from kgrec.kg.ingest import ingest
from kgrec.kg.settings import Settings
from kgrec.kg.store.embedded import EmbeddedStore
from conftest import open_neo4j

pytestmark = pytest.mark.slow

EXPECTED = {"items": 1682, "users": 943, "interactions": 100_000, "triples": 96_203, "entities": 33_159, "attributes": 3_754}


def test_ml100k_same_counts_in_both_stores_and_after_reingest(ml100k_catalog: Catalog, settings: Settings, tmp_path: Path) -> None:
    stores = {"embedded": EmbeddedStore(tmp_path / "embedded"), "neo4j": open_neo4j(tmp_path)}
    stores["neo4j"].clear()
    try:
        summaries = {}
        for kind, store in stores.items():
            for _ in range(2):
                result = ingest(ml100k_catalog, store, settings, progress=False)
                assert result.report.rejections == []
                summary = summarise(store.counts(), kind)
                assert {k: summary[k] for k in EXPECTED} == EXPECTED
                assert len(summary["relationships"]) == 28  # 24 Freebase + genre, year, interactions, attributes
                summaries.setdefault(kind, []).append(summary["relationships"])
        assert summaries["embedded"] == summaries["neo4j"]
    finally:
        stores["neo4j"].clear()
        stores["neo4j"].close()
