"""Training and serving benchmark: the kgrec model against PyG's LightGCN trained by the same
harness (same dim, layers, batch size, early stopping), per data set: seconds per epoch,
epochs and seconds to convergence, peak memory, and recommendation throughput for a batch
of 1,000 users (known users, and new users described by 3 liked items).

    python bench/train.py [--datasets ml-100k,ml-1m] [--recommenders kgrec,lightgcn[,kgrec-sampled]]
        [--epochs 300] [--device auto]

``kgrec-sampled`` is kgrec with neighbour sampling forced (``full_graph_max_edges=0``), for
the sampled mode's quality and speed against the whole graph's.

Each data set is ingested once into an embedded store under
``${XDG_CACHE_HOME:-~/.cache}/kgrec-bench/<name>`` and reused. Each training runs in its own
process, so its peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

BENCH_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kgrec-bench"


def prepare(name: str) -> Path:
    from kgrec.kg.datasets import load_dataset
    from kgrec.kg.ingest import ingest
    from kgrec.kg.settings import Settings
    from kgrec.kg.store.embedded import EmbeddedStore

    home = BENCH_HOME / name
    settings = Settings.from_env(environ={}, home=home)
    with EmbeddedStore(settings.store_dir) as store:
        if store.counts().labels.get("Item", 0) == 0:
            ingest(load_dataset(name, settings), store, settings)
    return home


def child(home: Path, which: str, epochs: int, device: str) -> dict[str, object]:
    """Runs in a subprocess: train one recommender, time it, and time serving."""
    from kgrec.gnn.baselines import LightGCNBaseline
    from kgrec.gnn.recommender import TrainData, UserQuery
    from kgrec.gnn.splits import make_split
    from kgrec.kg.settings import Settings
    from kgrec.kg.store.embedded import EmbeddedStore
    from kgrec.text.encoder import TextEncoder
    from kgrec.text.features import node_text_features

    settings = Settings.from_env(environ={}, home=home, device=device)
    with EmbeddedStore(settings.store_dir) as store:
        export = store.export()
    text = node_text_features(export, TextEncoder(settings), progress=False)
    split = make_split(export, "warm", seed=0, test_ratio=0.0, valid_ratio=0.1)
    data = TrainData(export, split.train, split.valid, text["Item"], text["Entity"])
    if which.startswith("kgrec"):
        from kgrec.gnn.inference import KGRec

        recommender = KGRec(progress=False)
    else:
        recommender = LightGCNBaseline()
    train_settings = replace(recommender.default_settings(), epochs=epochs, device=device)
    if which == "kgrec-sampled":  # neighbour sampling forced, for its quality against the whole graph's
        train_settings = replace(train_settings, full_graph_max_edges=0)
    started = time.perf_counter()
    recommender.fit(data, train_settings)
    seconds = time.perf_counter() - started
    curve = getattr(recommender, "curve", None)
    history = getattr(recommender, "history", [])  # LightGCN's epochs: cumulative seconds, validation NDCG@20
    epoch_seconds = [r.seconds for r in curve.records] if curve is not None else list(np.diff([0.0] + [h["seconds"] for h in history]))
    # (cumulative seconds, validation NDCG@20) after each evaluated epoch: how soon a quality is reached
    progress = ([(float(t), r.valid_ndcg) for t, r in zip(np.cumsum(epoch_seconds), curve.records)
                 if r.valid_ndcg is not None] if curve is not None
                else [(h["seconds"], h["valid_ndcg@20"]) for h in history if "valid_ndcg@20" in h])
    users = np.arange(min(1000, data.n_users))
    rng = np.random.default_rng(0)
    known = [UserQuery(user=int(u)) for u in users]
    new = [UserQuery(liked=tuple(int(i) for i in rng.choice(data.n_items, 3, replace=False))) for _ in users]
    timings = {}
    for label, queries in (("known", known), ("new", new)):
        recommender.score(queries[:10])
        started = time.perf_counter()
        scores = recommender.score(queries)
        top = scores.topk(20, dim=1)
        timings[label] = time.perf_counter() - started
        assert top.indices.shape == (len(queries), 20)
    return {
        "recommender": which,
        "train_s": seconds,
        "loop_s": getattr(curve, "seconds", None),  # the epochs and their validations, without the fits after them
        "epochs": len(epoch_seconds) or None,
        "s_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else None,
        "best_epoch": getattr(curve, "best_epoch", None),
        "best_valid_ndcg": getattr(curve, "best_ndcg", getattr(recommender, "best_valid_ndcg", None)),
        "progress": progress,
        "best_valid_recall": next((r.valid_recall for r in curve.records if r.epoch == curve.best_epoch), None)
        if curve is not None else None,
        "mode": getattr(curve, "mode", None),
        "batch_size": getattr(curve, "batch_size", None),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "recommend_1000_known_s": timings["known"],
        "recommend_1000_new_s": timings["new"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="ml-100k,ml-1m")
    parser.add_argument("--recommenders", default="kgrec,lightgcn")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--child", nargs=2, metavar=("HOME", "RECOMMENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], args.epochs, args.device)))
        return
    results: dict[str, list[dict[str, object]]] = {}
    for name in args.datasets.split(","):
        home = prepare(name)
        for which in args.recommenders.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(home), which, "--epochs", str(args.epochs), "--device", args.device],
                capture_output=True, text=True, check=True,
            )
            results.setdefault(name, []).append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"\n{name}")
        print(f"{'':14} {'s/epoch':>8} {'epochs':>7} {'train s':>8} {'best NDCG':>9} {'Recall':>7} {'peak MB':>8} "
              f"{'1k known s':>10} {'1k new s':>9}")
        for row in results[name]:
            print(f"{row['recommender']:14} {row['s_per_epoch'] or float('nan'):8.2f} {row['epochs'] or 0:7d} {row['train_s']:8.1f} "
                  f"{row['best_valid_ndcg'] or float('nan'):9.4f} {row['best_valid_recall'] or float('nan'):7.4f} "
                  f"{row['peak_rss_mb']:8.0f} {row['recommend_1000_known_s']:10.3f} {row['recommend_1000_new_s']:9.3f}")
        first, *others = results[name]
        for other in others:
            reached = next((t for t, v in first["progress"] if v >= (other["best_valid_ndcg"] or float("inf"))), None)
            print(f"ratio {first['recommender']}/{other['recommender']}: train time {first['train_s'] / other['train_s']:.2f}x, "
                  f"peak memory {first['peak_rss_mb'] / other['peak_rss_mb']:.2f}x; {first['recommender']} reached "
                  f"{other['recommender']}'s best validation NDCG@20 after "
                  + (f"{reached:.1f} s of epochs ({reached / other['train_s']:.2f}x its whole training)" if reached else "never"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
