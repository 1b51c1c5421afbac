"""The contract both graph stores pass: the same tests, run on each (see the ``store`` fixture)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kgrec.kg.graph import NodeRef, PathQuery, RelKey
from kgrec.kg.store.base import GraphStore
from kgrec.kg.store.embedded import EmbeddedStore
from conftest import FIXTURES, open_neo4j
from helpers import ingest_folder, normalised, write_catalog

TINY = FIXTURES / "tiny"


def test_load_counts_by_label_and_type(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    counts = store.counts()
    assert counts.labels == {"Item": 4, "User": 3, "Entity": 9}
    assert counts.types == {"BORN_IN": 1, "DIRECTED_BY": 2, "HAS_ATTRIBUTE": 5, "INTERACTED": 5, "IN_GENRE": 4}


def test_reingest_is_idempotent(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    first = normalised(store.export())
    ingest_folder(TINY, store, settings)
    assert normalised(store.export()) == first
    assert store.node(NodeRef("Item", "heat"))["title"] == "Heat"


def test_incremental_load_touches_nothing_else(store: GraphStore, settings, tmp_path: Path) -> None:
    ingest_folder(TINY, store, settings)
    before = normalised(store.export())
    extra = write_catalog(
        tmp_path / "extra",
        items="item_id,title,description\nthief,Thief,A safecracker takes one last job.\n",
        interactions="user_id,item_id,rating\n1,thief,5\n4,heat,4\n",
        triples="head,relation,tail\nthief,directed_by,mann\n",
    )
    result = ingest_folder(extra, store, settings)
    assert result.report.rejections == []
    after = normalised(store.export())
    for label, rows in before["nodes"].items():
        assert set(rows) <= set(after["nodes"][label])
    for key, rows in before["edges"].items():
        assert set(rows) <= set(after["edges"][key])
    counts = store.counts()
    assert counts.labels == {"Item": 5, "User": 4, "Entity": 9}
    assert counts.types["INTERACTED"] == 7 and counts.types["DIRECTED_BY"] == 3
    assert store.node(NodeRef("Entity", "mann"))["name"] == "Michael Mann"


def test_neighbours_in_both_directions(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    found = [(n.type, n.node.label, n.node.id, n.forward) for n in store.neighbours(NodeRef("Item", "heat"))]
    assert found == [
        ("DIRECTED_BY", "Entity", "mann", True),
        ("INTERACTED", "User", "1", False),
        ("IN_GENRE", "Entity", "genre:crime", True),
    ]
    assert store.neighbours(NodeRef("Item", "missing")) == []


def test_paths_of_at_most_three_hops(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    paths = store.paths(NodeRef("User", "1"), NodeRef("Item", "collateral"))
    assert [[n.id for n in p.nodes] for p in paths] == [
        ["1", "heat", "genre:crime", "collateral"],
        ["1", "heat", "mann", "collateral"],
    ]
    assert [(s.type, s.forward) for s in paths[1].steps] == [("INTERACTED", True), ("DIRECTED_BY", True), ("DIRECTED_BY", False)]
    only_people = store.paths(NodeRef("User", "1"), NodeRef("Item", "collateral"), types={"INTERACTED", "DIRECTED_BY"})
    assert [[n.id for n in p.nodes] for p in only_people] == [["1", "heat", "mann", "collateral"]]
    assert store.paths(NodeRef("User", "1"), NodeRef("Item", "collateral"), max_hops=2) == []
    assert len(store.paths(NodeRef("Item", "heat"), NodeRef("Entity", "chicago"))) == 1
    two = store.paths(NodeRef("Item", "heat"), NodeRef("Item", "collateral"), max_hops=2)
    assert [[n.id for n in p.nodes] for p in two] == [["heat", "genre:crime", "collateral"], ["heat", "mann", "collateral"]]
    assert store.paths(NodeRef("Item", "heat"), NodeRef("Item", "collateral"), max_hops=2, limit=1) == two[:1]
    assert store.paths(NodeRef("Item", "heat"), NodeRef("Item", "collateral"), max_hops=2, types={"IN_GENRE"}) == two[:1]
    assert store.paths(NodeRef("User", "1"), NodeRef("Item", "collateral"), limit=1) == paths[:1]


def test_find_paths_answers_many_queries_of_different_shapes_in_order(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    heat, collateral, user = NodeRef("Item", "heat"), NodeRef("Item", "collateral"), NodeRef("User", "1")
    queries = [
        PathQuery(heat, collateral, max_hops=2, limit=10, types=frozenset({"IN_GENRE", "DIRECTED_BY"})),
        PathQuery(user, collateral),
        PathQuery(heat, collateral, max_hops=2, limit=10, types=frozenset()),
        PathQuery(heat, NodeRef("Item", "missing"), max_hops=2),
        PathQuery(heat, collateral, max_hops=2, limit=1, types=frozenset({"IN_GENRE", "DIRECTED_BY"})),
        PathQuery(heat, NodeRef("Entity", "chicago")),
    ]
    answers = store.find_paths(queries)
    assert answers == [store.paths(q.src, q.dst, q.max_hops, q.limit, q.types) for q in queries]
    assert [len(a) for a in answers] == [2, 2, 0, 0, 1, 1]
    assert store.find_paths([]) == []


def test_remove_item(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    assert store.remove_item("alien") is True
    assert store.remove_item("alien") is False
    counts = store.counts()
    assert counts.labels["Item"] == 3
    assert counts.types["INTERACTED"] == 4 and counts.types["IN_GENRE"] == 3
    assert store.node(NodeRef("Item", "alien")) is None


def test_export_for_training(store: GraphStore, settings) -> None:
    ingest_folder(TINY, store, settings)
    export = store.export()
    assert export.ids("Item") == ["alien", "collateral", "heat", "toy"]
    assert export.ids("User") == ["1", "2", "3"]
    interactions = export.edges[("INTERACTED", "User", "Item")]
    pairs = {(export.ids("User")[s], export.ids("Item")[d]) for s, d in export.edge_index(("INTERACTED", "User", "Item")).T}
    assert pairs == {("1", "heat"), ("1", "toy"), ("2", "collateral"), ("2", "alien"), ("3", "toy")}
    assert np.nansum(interactions["rating"]) == 21
    entities = export.nodes["Entity"].set_index("id")
    assert entities.loc["mann", "name"] == "Michael Mann"
    assert entities.loc["attr:gender:female", "type"] == "gender"


def test_both_stores_hold_the_same_graph(tmp_path: Path, settings) -> None:
    embedded = EmbeddedStore(tmp_path / "embedded")
    neo4j = open_neo4j(tmp_path)
    neo4j.clear()
    try:
        for store in (embedded, neo4j):
            ingest_folder(TINY, store, settings)
        assert normalised(embedded.export()) == normalised(neo4j.export())
    finally:
        neo4j.clear()
        neo4j.close()


def test_reingest_with_changes_updates_only_those(store: GraphStore, settings, tmp_path: Path) -> None:
    ingest_folder(TINY, store, settings)
    changed = write_catalog(
        tmp_path / "changed",
        items="item_id,title,description\nheat,Heat,A master thief and a detective face off in Los Angeles.\n",
        interactions="user_id,item_id,rating,timestamp\n1,heat,2,881250949\n",
    )
    ingest_folder(changed, store, settings)
    interactions = normalised(store.export())["edges"][("INTERACTED", "User", "Item")]
    assert ("1", "heat", (("rating", 2.0), ("ts", 881250949.0))) in interactions
    assert len(interactions) == 5 and store.counts().types["INTERACTED"] == 5


def _second_handle(store: GraphStore, tmp_path: Path) -> GraphStore:
    """Another handle on the same stored graph, as another process would open it."""
    return EmbeddedStore(store.folder) if isinstance(store, EmbeddedStore) else open_neo4j(tmp_path)


def test_version_changes_with_every_write_and_only_then(store: GraphStore, settings, tmp_path: Path) -> None:
    seen = [store.version()]
    ingest_folder(TINY, store, settings)
    seen.append(store.version())
    store.counts(), store.export(), store.node(NodeRef("Item", "heat"))
    assert store.version() == seen[-1]
    assert store.remove_item("missing") is False and store.version() == seen[-1]
    assert store.remove_item("alien") is True
    seen.append(store.version())
    store.clear()
    seen.append(store.version())
    ingest_folder(TINY, store, settings)
    seen.append(store.version())
    assert len(set(seen)) == len(seen), seen


def test_a_second_handle_sees_writes_and_never_undoes_them(store: GraphStore, settings, tmp_path: Path) -> None:
    """The app's case: a handle opened before a CLI ingest writes later; nothing is lost."""
    ingest_folder(TINY, store, settings)
    other = _second_handle(store, tmp_path)
    try:
        before = other.version()
        extra = write_catalog(tmp_path / "extra", items="item_id,title,description\nthief,Thief,A safecracker.\n",
                              interactions="user_id,item_id\n")
        ingest_folder(extra, store, settings)
        assert other.version() != before
        assert other.node(NodeRef("Item", "thief"))["title"] == "Thief"
        late = write_catalog(tmp_path / "late", items="item_id,title,description\nran,Ran,A warlord divides his realm.\n",
                             interactions="user_id,item_id\n")
        ingest_folder(late, other, settings)
        assert set(store.export().ids("Item")) == {"alien", "collateral", "heat", "toy", "thief", "ran"}
    finally:
        other.close()


def test_a_neo4j_export_while_events_arrive_is_whole(settings, tmp_path: Path) -> None:
    """Neo4j reads each label and relationship type in a query of its own, each seeing what was
    committed when it ran: an event for a new user landing after the users were read must not
    break the export (its relationship joins the next one)."""
    import pandas as pd

    store, other = open_neo4j(tmp_path), open_neo4j(tmp_path)
    store.clear()
    try:
        ingest_folder(TINY, store, settings)
        query = store._query

        def late_event_between(cypher: str, **params):  # type: ignore[no-untyped-def]
            if cypher.startswith("CALL db.relationshipTypes()"):  # after every node read, before the relationships
                other.write_interactions(pd.DataFrame({"user_id": ["late"], "item_id": ["heat"], "rating": [5.0],
                                                       "timestamp": [float("nan")]}))
            return query(cypher, **params)

        store._query = late_event_between  # type: ignore[method-assign]
        export = store.export()
        assert "late" not in export.ids("User")
        assert len(export.edges[RelKey("INTERACTED", "User", "Item")]) == 5
        store._query = query  # type: ignore[method-assign]
        assert "late" in store.export().ids("User")
    finally:
        store.clear()
        store.close()
        other.close()
