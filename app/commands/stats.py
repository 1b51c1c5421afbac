"""``kgrec stats``: what the graph store holds."""
from __future__ import annotations

import argparse
import json

from kgrec.kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kgrec.kg.settings import STORE_KINDS, Settings
from kgrec.kg.store import GraphCounts, open_store


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("stats")
    parser.add_argument("--store", choices=STORE_KINDS)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def summarise(counts: GraphCounts, store: str) -> dict[str, object]:
    """``triples`` counts knowledge-graph relationships: all but interactions and user attributes."""
    return {
        "store": store,
        "items": counts.labels.get(ITEM, 0),
        "users": counts.labels.get(USER, 0),
        "entities": counts.labels.get(ENTITY, 0),
        "interactions": counts.types.get(INTERACTED, 0),
        "attributes": counts.types.get(HAS_ATTRIBUTE, 0),
        "triples": sum(n for t, n in counts.types.items() if t not in (INTERACTED, HAS_ATTRIBUTE)),
        "relationships": counts.types,
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    with open_store(settings) as store:
        summary = summarise(store.counts(), settings.store)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for key in ("store", "items", "users", "entities", "interactions", "attributes", "triples"):
        value = summary[key]
        print(f"{key:>13}: {value:,}" if isinstance(value, int) else f"{key:>13}: {value}")
    for rel_type, count in summary["relationships"].items():  # type: ignore[union-attr]
        print(f"{'':>13}  {rel_type}: {count:,}")
    return 0
