"""How the Neo4j loader batches relationships: grouped by source, targets by position."""
from __future__ import annotations

from kg.store.neo4j import _by_source


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
