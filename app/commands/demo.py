"""``kgrec demo``: from a fresh machine to the demo, each step skipped when already done."""
from __future__ import annotations

import argparse

from app.commands.stats import summarise
from kg.datasets import load_dataset
from kg.ingest import ingest
from kg.settings import Settings
from kg.store import open_store

DATASET = "ml-100k"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help=f"fetch {DATASET}, ingest it, then show what the graph holds")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    with open_store(settings) as store:
        if store.counts().labels.get("Item", 0) == 0:
            print(f"[1/2] fetching and ingesting {DATASET} into the {settings.store} store")
            result = ingest(load_dataset(DATASET, settings), store, settings)
            print(result.report.render())
        else:
            print(f"[1/2] the {settings.store} store already holds a catalog: skipping ingest")
        summary = summarise(store.counts(), settings.store)
    print("[2/2] the knowledge graph: " + ", ".join(f"{summary[k]:,} {k}" for k in ("items", "users", "entities", "interactions", "triples")))
    return 0
