"""``kgrec train``: train the model on everything the store holds and save it."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from kgrec.app.service import default_model_dir
from kgrec.gnn import distributed
from kgrec.gnn.checkpoint import check_writable
from kgrec.gnn.inference import KGRec
from kgrec.gnn.recommender import TrainData, TrainSettings
from kgrec.gnn.splits import make_split
from kgrec.kg.device import DEVICE_CHOICES
from kgrec.kg.identifiers import ENTITY, ITEM
from kgrec.kg.settings import STORE_KINDS, Settings
from kgrec.kg.store import open_store
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_text_features

VALID_RATIO = 0.1
"""Share of each user's interactions held out for early stopping."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train")
    defaults = KGRec.default_settings()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"epoch budget (default {defaults.epochs}; early stopping ends sooner)")
    parser.add_argument("--dim", type=int, default=defaults.dim)
    parser.add_argument("--layers", type=int, default=defaults.layers)
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"learning rate (default {defaults.lr})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"interactions per step (default {defaults.batch_size})")
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--device", default=None, help=f"{DEVICE_CHOICES} (default: $KGREC_DEVICE or auto)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", type=Path, help="model folder (default: KGREC_HOME/models/default)")
    parser.add_argument("--store", choices=STORE_KINDS)
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes torchrun started (gloo on CPUs, NCCL on GPUs)")
    parser.set_defaults(handler=run)


def train(settings: Settings, train_settings: TrainSettings, out: Path, progress: bool = True) -> KGRec:
    """Train with exactly ``train_settings`` (start from :meth:`KGRec.default_settings`) on
    all interactions but a per-user share kept for early stopping; save to ``out``."""
    check_writable(out)
    world = distributed.current()
    with distributed.main_first(world):  # rank 0 fills the embedding cache; the others read it
        with open_store(settings) as store:
            export = store.export()
        encoder = TextEncoder(settings)
        text = node_text_features(export, encoder, progress=progress)
    split = make_split(export, "warm", seed=train_settings.seed, test_ratio=0.0, valid_ratio=VALID_RATIO)
    data = TrainData(export, split.train, split.valid, text[ITEM], text[ENTITY])
    model = KGRec(text_model=encoder.model_id, progress=progress)
    model.fit(data, train_settings)
    if world is None or world.is_main:
        model.save(out)
    return model


def run(args: argparse.Namespace, settings: Settings) -> int:
    device = args.device or settings.device
    world = distributed.init_from_env(device) if args.distributed else None
    if world is not None:
        device = distributed.rank_device(device, world)
    train_settings = replace(
        KGRec.default_settings(), dim=args.dim, layers=args.layers, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        patience=args.patience, seed=args.seed, device=device,
    )
    out = args.out or default_model_dir(settings)
    started = time.perf_counter()
    try:
        model = train(settings, train_settings, out, progress=world is None or world.is_main)
    finally:
        distributed.shutdown()
    curve = model.curve
    assert curve is not None
    if world is not None and not world.is_main:
        return 0
    where = f" x {world.size} ranks" if world is not None else ""
    print(f"trained in {time.perf_counter() - started:.0f} s ({len(curve.records)} epochs on {curve.device}{where}), "
          f"best validation NDCG@20 {curve.best_ndcg:.4f} at epoch {curve.best_epoch}; saved to {out}")
    return 0
