"""Ingest benchmark: kgrec's batched loader against a naive one-statement-per-row loader on
the same subset and the same Neo4j, then full ml-100k (with its knowledge graph) and ml-1m,
each loaded into an empty graph and then re-ingested.

    eval "$(scripts/neo4j-local start)"
    python bench/ingest.py [--subset 5000] [--datasets ml-100k,ml-1m]

It clears the graph of the Neo4j it is pointed at.
"""
from __future__ import annotations

import argparse
import json
import platform
import time


from kgrec.kg.datasets import load_dataset
from kgrec.kg.graph import GraphDelta
from kgrec.kg.identifiers import INTERACTED, ITEM, USER
from kgrec.kg.ingest import ingest
from kgrec.kg.settings import Settings
from kgrec.kg.store.neo4j import Neo4jStore
from kgrec.kg.to_graph import catalog_to_delta, properties
from kgrec.kg.validate import validate


def subset_delta(settings: Settings, rows: int) -> GraphDelta:
    """The first ``rows`` ml-100k interactions with the users and items they join."""
    catalog = load_dataset("ml-100k", settings, progress=False)
    catalog.interactions = catalog.interactions.head(rows)
    catalog.triples = catalog.triples.head(0)
    catalog.entities = catalog.entities.head(0)
    catalog.users = catalog.users[catalog.users["user_id"].isin(set(catalog.interactions["user_id"]))]
    catalog.users = catalog.users[["user_id"]]
    clean, _ = validate(catalog, lambda label, ids: set())
    return catalog_to_delta(clean)


def naive_load(store: Neo4jStore, delta: GraphDelta) -> None:
    """One auto-committed MERGE statement per node and per relationship."""
    with store.driver.session(database=store.database) as session:
        for label, frame in delta.nodes.items():
            for node_id, props in zip(frame["id"].tolist(), properties(frame, ("id",))):
                session.run(f"MERGE (n:{label} {{id: $id}}) SET n += $p", id=node_id, p=props).consume()
        frame = delta.rels[(INTERACTED, USER, ITEM)]
        for src, dst, props in zip(frame["src"].tolist(), frame["dst"].tolist(), properties(frame, ("src", "dst"))):
            session.run(
                "MATCH (a:User {id: $s}) MATCH (b:Item {id: $d}) MERGE (a)-[r:INTERACTED]->(b) SET r += $p",
                s=src, d=dst, p=props,
            ).consume()


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=5000, help="interactions in the naive-vs-batched comparison")
    parser.add_argument("--datasets", default="ml-100k,ml-1m")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    settings = Settings.from_env(store="neo4j")
    store = Neo4jStore(settings)
    results: dict[str, object] = {"machine": f"{platform.node()} {platform.machine()}, {platform.python_version()}"}

    delta = subset_delta(settings, args.subset)
    rows = delta.node_count() + delta.rel_count()
    store.clear()
    naive = timed(lambda: naive_load(store, delta))
    store.clear()
    batched = timed(lambda: store.load(delta))
    store.clear()
    results["subset"] = {"rows": rows, "naive_s": naive, "batched_s": batched, "naive_rows_per_s": rows / naive,
                         "batched_rows_per_s": rows / batched, "ratio": naive / batched}
    print(f"subset: {rows:,} rows (nodes + interactions)")
    print(f"  naive (one statement per row): {naive:7.2f} s  {rows / naive:9,.0f} rows/s")
    print(f"  batched (UNWIND ... MERGE):    {batched:7.2f} s  {rows / batched:9,.0f} rows/s")
    print(f"  batched / naive speed-up:      {naive / batched:7.1f}x")

    for name in args.datasets.split(","):
        catalog = load_dataset(name, settings, progress=False)
        store.clear()
        first = timed(lambda: ingest(catalog, store, settings, progress=False))
        again = timed(lambda: ingest(catalog, store, settings, progress=False))
        counts = store.counts()
        written = sum(counts.labels.values()) + sum(counts.types.values())
        results[name] = {"first_s": first, "reingest_s": again, "nodes_and_relationships": written,
                         "interactions": counts.types.get(INTERACTED, 0)}
        print(f"{name}: {written:,} nodes + relationships ({counts.types.get(INTERACTED, 0):,} interactions)")
        print(f"  first ingest (validate + load): {first:7.2f} s  {written / first:9,.0f} rows/s")
        print(f"  re-ingest (same catalog):       {again:7.2f} s  ({first / again:.2f}x faster)")
    store.clear()
    store.close()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
