"""The cold-start scenario of issue 10, side by side for kgrec and text-kNN: a text-only new
item, *Star Wars: Episode IV (Special Edition)*, and a new user who liked the original
trilogy (ml-100k items 50, 172, 181). Where does the new item rank among 100 candidates
(itself and 99 random items) and among all items?

    KGREC_HOME=... python bench/cold_start.py [--model DIR] [--draws 100] [--json FILE]

The catalog is the ml-100k store under ``KGREC_HOME`` (``kgrec data fetch ml-100k && kgrec
ingest --dataset ml-100k``). The model is ``--model`` when that folder holds one, else it
is trained as ``kgrec train`` does and saved there. The new item is added to the store's
export in memory, with a title and a description only (no knowledge-graph edges, no
interactions), embedded by the same encoder, and the model folds it in without retraining.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

NEW_ITEM = {
    "id": "star-wars-iv-se",
    "title": "Star Wars: Episode IV (Special Edition)",
    "description": ("Luke Skywalker, Han Solo and Princess Leia join the Rebel Alliance to fight Darth Vader and "
                    "the Empire's Death Star in this science fiction space opera, restored and re-released."),
}
LIKED = ("50", "172", "181")
CANDIDATES = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model folder (trained here when it holds none)")
    parser.add_argument("--draws", type=int, default=100, help="random candidate sets of 100 (default 100)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from kgrec.app.commands.train import train
    from kgrec.gnn.baselines import TextKNN
    from kgrec.gnn.checkpoint import META
    from kgrec.gnn.inference import KGRec
    from kgrec.gnn.recommender import TrainData, TrainSettings, UserQuery
    from kgrec.gnn.splits import interactions
    from kgrec.kg.graph import GraphExport
    from kgrec.kg.identifiers import ENTITY, ITEM
    from kgrec.kg.settings import Settings
    from kgrec.kg.store import open_store
    from kgrec.text.encoder import TextEncoder
    from kgrec.text.features import node_text_features

    settings = Settings.from_env()
    model_dir = args.model or settings.models_dir / "bench-cold-start"
    if (model_dir / META).is_file():
        model = KGRec.load(model_dir, settings.device, progress=False)
    else:
        model = train(settings, replace(KGRec.default_settings(), device=settings.device), model_dir, progress=False)
    with open_store(settings) as store:
        export = store.export()
    items = export.nodes[ITEM]
    row = {column: NEW_ITEM.get(column, None) for column in items.columns}
    catalog = GraphExport(nodes={**export.nodes, ITEM: pd.concat([items, pd.DataFrame([row])], ignore_index=True)},
                          edges=export.edges)
    features = node_text_features(catalog, TextEncoder(settings), progress=False)
    model.refresh(catalog, features[ITEM], features[ENTITY])
    index = catalog.index(ITEM)
    new = index[NEW_ITEM["id"]]
    liked = [index[i] for i in LIKED]
    query = UserQuery(liked=tuple(liked))

    knn = TextKNN()
    pairs = interactions(catalog)
    knn.fit(TrainData(catalog, pairs, np.empty((2, 0), np.int64), features[ITEM], features[ENTITY]), TrainSettings())
    rankers = {f"kgrec (exploration {model.exploration:.1f}, the default)": model.score([query])[0].numpy()}
    for exploration in (0.0, 0.5, 1.0):
        if exploration != model.exploration:
            rankers[f"kgrec (exploration {exploration:.1f})"] = model.score([query], exploration=exploration)[0].numpy()
    rankers["text-kNN"] = knn.score([query])[0].numpy()

    others = np.setdiff1d(np.arange(len(catalog.nodes[ITEM])), [new, *liked])
    rng = np.random.default_rng(0)
    draws = [np.append(rng.choice(others, CANDIDATES - 1, replace=False), new) for _ in range(args.draws)]
    results = {}
    print(f"new item {NEW_ITEM['title']!r} (text only) for a new user who liked "
          f"{', '.join(str(catalog.nodes[ITEM]['title'][i]) for i in liked)}; {len(others) + 1} rankable items")
    print(f"{'recommender':42s} {'score':>8s} {'rank/100 (draw 0)':>18s} {'mean rank/100':>14s} {'top-3 share':>12s} "
          f"{'rank among all':>15s}")
    for name, scores in rankers.items():
        scores = scores.astype(np.float64)
        scores[liked] = -np.inf
        ranks = [int((scores[c] > scores[new]).sum()) + 1 for c in draws]
        overall = int((scores[others] > scores[new]).sum()) + 1
        results[name] = {"score": float(scores[new]), "rank_among_100_draw0": ranks[0],
                         "mean_rank_among_100": float(np.mean(ranks)), "top3_share": float(np.mean(np.array(ranks) <= 3)),
                         "rank_among_all": overall, "items": len(others) + 1}
        print(f"{name:42s} {scores[new]:8.3f} {ranks[0]:18d} {np.mean(ranks):14.2f} {np.mean(np.array(ranks) <= 3):12.2f} "
              f"{overall:15d}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
