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
