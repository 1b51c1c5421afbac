"""``kgrec ingest``: validate a catalog and load it into the graph store."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import STORE_KINDS, Settings

if TYPE_CHECKING:
    from kgrec.kg.ingest import IngestResult
    from kgrec.kg.store.base import GraphStore


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a public dataset: ml-100k or ml-1m (fetched if missing)")
    source.add_argument("--catalog", type=Path, help="a catalog folder (items.csv, interactions.csv, ...)")
    parser.add_argument("--store", choices=STORE_KINDS, help="default: neo4j when KGREC_NEO4J_URI is set, else embedded")
    parser.add_argument("--strict", action="store_true", help="any rejected row fails the ingest before anything is written")
    parser.add_argument("--pseudonymize-users", action="store_true", help="store keyed hashes of user ids (key: KGREC_PSEUDONYM_KEY)")
    parser.add_argument("--rating-range", type=_rating_range, help="accepted ratings, MIN:MAX (default 0:10)")
    parser.add_argument("--bulk", action="store_true",
                        help="first load of a large catalog by Neo4j's offline importer into a stopped, empty local "
                             "Neo4j (scripts/neo4j-local), instead of writes over Bolt")
    parser.add_argument("--neo4j-data", type=Path,
                        help="with --bulk: that Neo4j's data folder (neo4j-local --data; default KGREC_HOME/neo4j)")
    parser.set_defaults(handler=run)


def _rating_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, got {text!r}") from None
    return low, high


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.rating_range:
        settings = settings.with_(rating_range=args.rating_range)
        settings.check()
    if args.neo4j_data and not args.bulk:
        raise KgrecError("--neo4j-data goes with --bulk (an offline import); over Bolt, KGREC_NEO4J_URI names the Neo4j")
    bulk = (args.neo4j_data or settings.home / "neo4j") if args.bulk else None
    result = ingest_source(settings, args.dataset, args.catalog, strict=args.strict,
                           pseudonymize=args.pseudonymize_users, bulk_into=bulk)
    print(result.report.render())
    if "rating_out_of_range" in {reason for reasons in result.report.rejected.values() for reason in reasons}:
        print("ratings outside the accepted range were rejected: set --rating-range MIN:MAX to accept them")
    if bulk is None:
        print(f"loaded into the {settings.store} store in {result.seconds:.1f} s")
    else:
        print(f"imported into the Neo4j in {bulk} in {result.seconds:.1f} s; start it with: "
              f"scripts/neo4j-local start --data {bulk}")
    print(f"report: {result.report_path}")
    if result.report.rejections:
        print(f"rejected rows: {result.quarantine_path}")
    return 0


def ingest_source(settings: Settings, dataset: str | None, catalog_dir: Path | None, strict: bool = False,
                  pseudonymize: bool = False, progress: bool = True, bulk_into: Path | None = None) -> IngestResult:
    """Validate a public data set (``dataset``) or a catalog folder and load it into the
    store: ``kgrec ingest`` and the library's ``kgrec.ingest``. With ``bulk_into`` (a local
    Neo4j's data folder) the load is Neo4j's offline import into that stopped, empty
    database instead (:mod:`kgrec.kg.store.neo4j_import`). The state folders are checked
    writable before anything is read."""
    embedded = settings.store == "embedded" and bulk_into is None
    settings.check_writable(settings.reports_dir, *([settings.store_dir] if embedded else []))
    from kgrec.kg.ingest import ingest, ingest_folder
    from kgrec.kg.store import open_store
    from kgrec.kg.store.neo4j_import import Neo4jImport

    def target() -> Neo4jImport | GraphStore:
        return open_store(settings) if bulk_into is None else Neo4jImport(bulk_into, settings)

    if dataset is None:
        assert catalog_dir is not None
        with target() as store:
            return ingest_folder(catalog_dir, store, settings, strict=strict, pseudonymize=pseudonymize, progress=progress)
    from kgrec.kg.datasets import load_dataset

    catalog = load_dataset(dataset, settings, progress=progress)
    with target() as store:
        return ingest(catalog, store, settings, strict=strict, pseudonymize=pseudonymize, progress=progress)
