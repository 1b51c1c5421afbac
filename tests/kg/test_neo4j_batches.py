"""How the Neo4j loader batches relationships: grouped by source, targets by position."""
from __future__ import annotations

from kgrec.kg.store.neo4j import _by_source


def test_relationships_are_grouped_by_source_and_point_at_their_batchs_targets() -> None:
    sources = ["u1", "u1", "u2", "u3", "u3", "u3"]
    rows = [("a", 5.0), ("b", 4.0), ("a", None), ("c", 1.0), ("a", 2.0), ("b", 3.0)]
    batches = list(_by_source(sources, rows, size=3))
    # A batch closes at the first new source once it holds `size` relationships.
    assert [count for _, count in batches] == [3, 3]
    first, second = batches[0][0], batches[1][0]
    assert first == {"targets": ["a", "b"], "rows": [["u1", [[0, 5.0], [1, 4.0]]], ["u2", [[0, None]]]]}
    assert second == {"targets": ["c", "a", "b"], "rows": [["u3", [[0, 1.0], [1, 2.0], [2, 3.0]]]]}
    for batch, _ in batches:
        for source, outs in batch["rows"]:
            for position, *_ in outs:
                assert batch["targets"][position] in {t for s, (t, _) in zip(sources, rows) if s == source}
    assert list(_by_source([], [], size=3)) == []


def test_one_relationship_statement_per_label_pair_and_property_set() -> None:
    import pandas as pd

    from kgrec.kg.identifiers import RelKey
    from kgrec.kg.store.neo4j import TYPE_COLUMN, _by_labels

    parts = [
        (RelKey("DIRECTED_BY", "Item", "Entity"), pd.DataFrame({"src": ["b", "a"], "dst": ["x", "y"]})),
        (RelKey("IN_GENRE", "Item", "Entity"), pd.DataFrame({"src": ["a"], "dst": ["g"]})),
        (RelKey("INTERACTED", "User", "Item"), pd.DataFrame({"src": ["1"], "dst": ["a"], "rating": [4.0]})),
        (RelKey("RATED", "User", "Item"), pd.DataFrame({"src": ["1"], "dst": ["b"]})),
        (RelKey("EMPTY", "Item", "Item"), pd.DataFrame({"src": [], "dst": []})),
    ]
    groups = list(_by_labels(parts))
    assert [labels for labels, _ in groups] == [("Item", "Entity"), ("User", "Item"), ("User", "Item")]
    kg = groups[0][1]
    assert kg[["src", "dst", TYPE_COLUMN]].values.tolist() == [["a", "g", "IN_GENRE"], ["a", "y", "DIRECTED_BY"],
                                                             ["b", "x", "DIRECTED_BY"]]
    assert list(groups[1][1].columns) == ["src", "dst", "rating", TYPE_COLUMN]


def test_one_delta_counts_only_what_it_writes(neo4j_store, settings, monkeypatch) -> None:
    """An item added through the API is one delta: its load reads the counts of its own
    labels and relationship types, not of every type in the store (each a statement a fresh
    server plans anew), and still MERGEs into what is there (loading it twice changes nothing)."""
    from kgrec.app.updates import check_items
    from kgrec.kg.store.neo4j import Neo4jStore
    from kgrec.kg.to_graph import catalog_to_delta
    from conftest import FIXTURES
    from helpers import ingest_folder, normalised

    ingest_folder(FIXTURES / "tiny", neo4j_store, settings)
    catalog, ids, rejected = check_items([{"item_id": "thief", "title": "Thief",
                                           "triples": [{"relation": "directed_by", "tail": "mann"}]}],
                                         neo4j_store.existing_ids)
    assert ids == ["thief"] and not rejected
    delta = catalog_to_delta(catalog)
    counted: list[str] = []
    query = Neo4jStore._query

    def recording(self: Neo4jStore, cypher: str, **params: object) -> list:
        if "count(r)" in cypher:
            counted.append(cypher.split("`")[1])
        return query(self, cypher, **params)

    monkeypatch.setattr(Neo4jStore, "_query", recording)
    neo4j_store.load(delta)
    assert counted == ["DIRECTED_BY"]
    once = normalised(neo4j_store.export())
    neo4j_store.load(delta)
    assert normalised(neo4j_store.export()) == once
    assert neo4j_store.counts().types["DIRECTED_BY"] == 3
