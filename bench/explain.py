"""Explanation quality on a trained model: validity, coverage, deletion fidelity, diversity.

    KGREC_HOME=... python bench/explain.py [--users 20] [--k 3] [--random 2] [--seed 0]

For sampled known users and their top-k recommendations (with explanations):
- validity: the share of shown paths that the store itself returns again when asked for
  paths between the path's two ends through the path's relationship types (must be 100%);
- coverage: the share of recommendations with at least one path;
- deletion fidelity: the drop of the item's score when the relationships of the shown paths
  are removed from the graph and the model folds the graph in again (no retraining),
  against removing as many random walks of the same lengths starting at the same user;
  the ratio of mean drops, with its spread over users;
- diversity: distinct path shapes (relationship-type sequences) per user's list, over the
  number of explanations shown;
- raw-id share: shown paths whose sentence or node labels (the picture's) contain the id of
  an entity known only by a code (e.g. Freebase ``m.09c7w0``); target 0;
- hub share: shown paths whose connecting nodes (the entities and users between the user
  and the item: a shared genre, a country, the gender of "people who share your gender";
  not the user's own liked items) include one of the 1% highest-degree nodes of the
  graph; target < 10%.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from kgrec.app.service import RecommendationService
from kgrec.gnn.recommender import UserQuery
from kgrec.kg.graph import GraphExport, GraphPath, NodeRef, PathStep
from kgrec.kg.settings import Settings
from kgrec.text.sentences import is_fallback_name


def edges_of(path: GraphPath) -> list[tuple[NodeRef, NodeRef, str]]:
    """Each hop as (source, target, type) in the stored direction."""
    hops = []
    for a, b, step in zip(path.nodes, path.nodes[1:], path.steps):
        hops.append((a, b, step.type) if step.forward else (b, a, step.type))
    return hops


def without(export: GraphExport, hops: list[tuple[NodeRef, NodeRef, str]]) -> GraphExport:
    edges = dict(export.edges)
    for src, dst, rel_type in hops:
        key = next(k for k in edges if k.type == rel_type and k.src == src.label and k.dst == dst.label)
        frame = edges[key]
        s, d = export.index(src.label)[src.id], export.index(dst.label)[dst.id]
        edges[key] = frame[~((frame["src"] == s) & (frame["dst"] == d))]
    return GraphExport(export.nodes, edges)


def random_walk(service: RecommendationService, user: NodeRef, length: int, rng: np.random.Generator) -> list[tuple[NodeRef, NodeRef, str]]:
    nodes, hops = [user], []
    for _ in range(length):
        options = [n for n in service.store.neighbours(nodes[-1], limit=10_000) if n.node not in nodes]
        if not options:
            break
        step = options[rng.integers(len(options))]
        hops.append((nodes[-1], step.node, step.type) if step.forward else (step.node, nodes[-1], step.type))
        nodes.append(step.node)
    return hops


def top_degree_nodes(export: GraphExport, share: float = 0.01) -> set[NodeRef]:
    """The ``share`` of all nodes with the most relationships."""
    degrees: dict[str, np.ndarray] = {label: np.zeros(len(frame)) for label, frame in export.nodes.items()}
    for key, frame in export.edges.items():
        degrees[key.src] += np.bincount(frame["src"].to_numpy(), minlength=len(degrees[key.src]))
        degrees[key.dst] += np.bincount(frame["dst"].to_numpy(), minlength=len(degrees[key.dst]))
    every = [(d, label, i) for label, values in degrees.items() for i, d in enumerate(values)]
    every.sort(key=lambda t: -t[0])
    top = every[: max(1, int(len(every) * share))]
    ids = {label: export.ids(label) for label in degrees}
    return {NodeRef(label, ids[label][i]) for _, label, i in top}


def score_after(service: RecommendationService, export: GraphExport, text: dict[str, np.ndarray], user: int, item: int) -> float:
    service.model.refresh(export, text["Item"], text["Entity"])
    return float(service.model.score([UserQuery(user=user)])[0, item])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--random", type=int, default=2, help="random removals per recommendation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    service = RecommendationService(Settings.from_env())
    from kgrec.text.features import node_text_features

    text = node_text_features(service.export, service.encoder, progress=False)
    export = service.export
    rng = np.random.default_rng(args.seed)
    users = rng.choice(export.ids("User"), size=min(args.users, len(export.ids("User"))), replace=False)
    hubs = top_degree_nodes(export)
    entities = export.nodes["Entity"]
    codes = {e for e, n in zip(entities["id"].astype(str), entities["name"]) if is_fallback_name(n, e)}
    shown = valid = with_path = recommendations = raw_ids = through_hubs = 0
    diversity, drops, random_drops, ratios = [], [], [], []
    started = time.perf_counter()
    for user_id in users:
        [answer] = service.recommend([{"id": user_id, "user_id": str(user_id), "k": args.k, "explain": True}])
        user, shapes, explanations = service.user_index[str(user_id)], set(), 0
        user_drops, user_random = [], []
        for entry in answer["items"]:
            recommendations += 1
            paths = [GraphPath(tuple(NodeRef(n["label"], n["id"]) for n in e["nodes"]),
                               tuple(PathStep(r["type"], r["forward"]) for r in e["relationships"]))
                     for e in entry["explanations"]]
            with_path += bool(paths)
            for explanation, path in zip(entry["explanations"], paths):
                told = explanation["sentence"] + " " + " ".join(n["name"] for n in explanation["nodes"])
                raw_ids += any(n.id in told for n in path.nodes if n.label == "Entity" and n.id in codes)
                through_hubs += any(n in hubs for n in path.nodes[1:-1] if n.label != "Item")  # not liked items
            for path in paths:
                shown += 1
                explanations += 1
                shapes.add(tuple(s.type for s in path.steps))
                again = service.store.paths(path.nodes[0], path.nodes[-1], max_hops=len(path), limit=100_000,
                                            types={s.type for s in path.steps})
                valid += path in again
            if not paths:
                continue
            item = service.item_index[entry["item_id"]]
            base = score_after(service, export, text, user, item)
            hops = [h for p in paths for h in edges_of(p)]
            drop = base - score_after(service, without(export, hops), text, user, item)
            rand = []
            for _ in range(args.random):
                walk = [h for p in paths for h in random_walk(service, NodeRef("User", str(user_id)), len(p), rng)]
                rand.append(base - score_after(service, without(export, walk), text, user, item))
            user_drops.append(drop)
            user_random.append(float(np.mean(rand)))
        service.model.refresh(export, text["Item"], text["Entity"])
        if explanations:
            diversity.append(len(shapes) / explanations)
        if user_drops:
            drops.extend(user_drops)
            random_drops.extend(user_random)
            if np.mean(user_random) > 0:
                ratios.append(float(np.mean(user_drops) / np.mean(user_random)))
    results = {
        "users": len(users), "recommendations": recommendations, "paths_shown": shown,
        "validity": valid / shown if shown else None,
        "coverage": with_path / recommendations if recommendations else None,
        "mean_drop_shown": float(np.mean(drops)) if drops else None,
        "mean_drop_random": float(np.mean(random_drops)) if random_drops else None,
        "fidelity_ratio": float(np.mean(drops) / np.mean(random_drops)) if random_drops and np.mean(random_drops) > 0 else None,
        "fidelity_ratio_per_user_median": float(np.median(ratios)) if ratios else None,
        "fidelity_ratio_per_user_iqr": [float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75))] if ratios else None,
        "diversity": float(np.mean(diversity)) if diversity else None,
        "raw_id_share": raw_ids / shown if shown else None,
        "hub_share": through_hubs / shown if shown else None,
        "seconds": time.perf_counter() - started,
    }
    for key, value in results.items():
        print(f"{key:>32}: {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
