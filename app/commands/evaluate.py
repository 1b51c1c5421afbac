"""``kgrec evaluate``: the model and the baselines on one protocol, same split, over seeds."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgrec.gnn.evaluate import EvaluationResult, default_recommenders, evaluate
from kgrec.gnn.recommender import TrainSettings
from kgrec.gnn.splits import PROTOCOLS
from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphExport
from kgrec.kg.settings import STORE_KINDS, Settings
from kgrec.kg.store import open_store

if TYPE_CHECKING:
    from kgrec.text.encoder import TextEncoder


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
    )
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS,
                        help="cold-item-text: held-out items keep only their text; text-user: new users described in words; "
                             "aldi: ALDI's (SIGIR 2023) cold-start protocol, cold / warm / overall views")
    parser.add_argument("--seeds", type=_seeds, default=[0], help="comma-separated split/training seeds (default 0)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--split-dir", type=Path, metavar="DIR", help="read each seed's split from DIR if there, else write it there")
    parser.add_argument("--epochs", type=int, help="training epoch budget (default %d)" % TrainSettings.epochs)
    parser.add_argument("--dim", type=int, help="embedding size (default %d)" % TrainSettings.dim)
    parser.add_argument("--recommenders", type=_names, metavar="NAMES", help="comma-separated subset, e.g. most-popular,text-knn (default: all)")
    parser.add_argument("--store", choices=STORE_KINDS)
    parser.set_defaults(handler=run)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return seeds


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace, settings: Settings) -> int:
    for flag in ("epochs", "dim"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise KgrecError(f"--{flag} must be at least 1")
    changes = {k: getattr(args, k) for k in ("epochs", "dim") if getattr(args, k) is not None}
    result = evaluate_store(settings, args.protocol, args.seeds, args.recommenders, changes, args.split_dir)
    print(result.table())
    if args.json:
        result.write_json(args.json)
        print(f"results: {args.json}")
    if args.split_dir:
        print(f"splits: {args.split_dir}")
    return 0


def evaluate_store(settings: Settings, protocol: str, seeds: list[int], recommenders: list[str] | None,
                   changes: dict[str, object], split_dir: Path | None) -> EvaluationResult:
    """Evaluate ``recommenders`` (names; None: all) on the catalog in the store: the CLI's
    ``kgrec evaluate`` and the library's ``kgrec.evaluate``. ``changes`` are training
    settings applied to every trained recommender."""
    if protocol not in PROTOCOLS:
        raise KgrecError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    factories = _select(recommenders)
    with open_store(settings) as store:
        export = store.export()
    if "Item" not in export.nodes or export.nodes["Item"].empty:
        raise KgrecError("the graph store holds no items: run `kgrec ingest` first")
    from kgrec.text.encoder import TextEncoder

    encoder = TextEncoder(settings)
    text = text_features(export, encoder)
    return evaluate(protocol, export, text, factories, seeds, {"device": settings.device, **changes},
                    split_dir=split_dir, embed=lambda texts: encoder.encode(list(texts), progress=False))


def text_features(export: GraphExport, encoder: TextEncoder) -> dict[str, np.ndarray]:
    """Item and entity text embeddings (cached under KGREC_HOME after the first run)."""
    from kgrec.text.features import node_text_features

    return node_text_features(export, encoder)


def _select(names: list[str] | None) -> list:
    factories = default_recommenders()
    if not names:
        return factories
    by_name = {getattr(f, "name", getattr(f, "__name__", "")): f for f in factories}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KgrecError(f"unknown recommender {unknown[0]!r}: choose from {', '.join(by_name)}")
    return [by_name[n] for n in names]
