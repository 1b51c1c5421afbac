"""One evaluation harness for the model and every baseline: same split, same full ranking,
same metrics, mean and standard deviation over seeds.

>>> result = evaluate("warm", export, text, [MostPopular, TextKNN, LightGCNBaseline], seeds=(0, 1, 2))
>>> print(result.table())

Conditions per protocol:

- ``warm``: each test user ranks all items; its training and validation items are masked.
- ``cold-item``: users with interactions on the held-out items rank them ``among-cold``
  (candidates are the cold items only; chance Recall@20 is about 20 / #cold items) and
  ``among-all`` (all items, training and validation items masked).
- ``cold-user``: each held-out user comes as a new user (``UserQuery(user=None)``) with its
  attribute entities and its first 0, 1, 3 or 5 interactions as ``liked`` (``reveal-N``);
  the revealed items are masked and not counted as test items.
- ``cold-item-text``: as ``cold-item``, but the held-out items' knowledge-graph edges are
  gone from the export every recommender learns from, and their text embeddings are made
  from that export (title, description, properties): no recommender sees their facts.
- ``text-user``: as ``cold-user`` with 1, 3 or 5 revealed, but the user arrives as the
  embedding of one sentence naming the revealed items' titles and genres
  (``UserQuery(text=...)``, no ids, no attributes); revealed items are masked as above.
- ``aldi`` (ALDI's and LLM-InS's evaluation): three views over the known users with test
  pairs, each masking the user's training and validation items: ``aldi/cold`` (the test
  pairs on cold items, ranked among the cold items, validation and test ones, as ALDI masks
  every warm item), ``aldi/warm`` (the test pairs on warm items, ranked among the items
  with training interactions) and ``aldi/overall`` (every test pair, ranked among all
  items). Recommenders early-stop and choose their settings on the whole validation
  part, warm pairs and the validation cold items' pairs.

Beside Recall and NDCG, every ranking among all items reports the *cold share*: the share
of the top-K slots that went to items without training interactions (the held-out items
under the cold-item protocols).

Recommenders learn from a copy of the export whose INTERACTED edges are the training
interactions only, so none can read a test interaction from the graph.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kgrec.gnn import splits as splits_mod
from kgrec.gnn.baselines import LightGCNBaseline, MostPopular, TextKNN
from kgrec.gnn.metrics import RankingMetrics, topk_masked
from kgrec.gnn.pairs import group_by_user
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.splits import ALDI_PROTOCOL, ITEM_PROTOCOLS, REVEAL_COUNTS, TEXT_REVEAL_COUNTS, Split
from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphExport
from kgrec.kg.identifiers import INTERACTIONS, USER_ATTRIBUTES

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts -> ``(len(texts), d)`` embeddings from the encoder that made the item text
features (e.g. ``lambda texts: TextEncoder(settings).encode(texts, progress=False)``)."""

RecommenderFactory = Callable[[], Recommender]
"""A Recommender class, or any zero-argument callable that returns a fresh one (each seed
gets a new instance)."""


def default_recommenders() -> list[RecommenderFactory]:
    """Everything ``kgrec evaluate`` compares: the baselines, the literature's cold-start
    peer (ALDI, SIGIR 2023), then the model."""
    from kgrec.gnn.aldi import ALDI
    from kgrec.gnn.ease import EASE
    from kgrec.gnn.inference import KGRec

    return [MostPopular, TextKNN, EASE, LightGCNBaseline, ALDI, KGRec]


@dataclass
class Run:
    """One recommender on one condition of one seed's split."""

    recommender: str
    condition: str
    seed: int
    recall: float
    ndcg: float
    users: int
    fit_seconds: float
    score_seconds: float
    cold_share: float | None = None
    """Share of the top-K slots taken by items without training interactions (rankings
    among all items only)."""


@dataclass
class EvaluationResult:
    protocol: str
    k: int
    seeds: list[int]
    settings: dict[str, TrainSettings] = field(default_factory=dict)
    """What each recommender trained with (by name; ``seed`` varies per run)."""
    runs: list[Run] = field(default_factory=list)
    splits: dict[int, dict[str, object]] = field(default_factory=dict)

    def summary(self) -> list[dict[str, object]]:
        """Mean and standard deviation over seeds per (recommender, condition), in run order.

        The std is the sample standard deviation (ddof=1) across seeds; 0 for one seed."""
        groups: dict[tuple[str, str], list[Run]] = {}
        for run in self.runs:
            groups.setdefault((run.recommender, run.condition), []).append(run)
        rows = []
        for (name, condition), runs in groups.items():
            recall = np.array([r.recall for r in runs])
            ndcg = np.array([r.ndcg for r in runs])
            shares = [r.cold_share for r in runs if r.cold_share is not None]
            rows.append(
                {
                    "recommender": name,
                    "condition": condition,
                    f"recall@{self.k}_mean": float(recall.mean()),
                    f"recall@{self.k}_std": _std(recall),
                    f"ndcg@{self.k}_mean": float(ndcg.mean()),
                    f"ndcg@{self.k}_std": _std(ndcg),
                    "cold_share_mean": float(np.mean(shares)) if shares else None,
                    "users": int(np.mean([r.users for r in runs])),
                    "seeds": len(runs),
                    "fit_seconds_mean": float(np.mean([r.fit_seconds for r in runs])),
                }
            )
        return rows

    def table(self) -> str:
        """A plain-text table, one row per recommender x condition."""
        k = self.k
        head = f"protocol {self.protocol}, seeds {','.join(map(str, self.seeds))}, full ranking, K={k}"
        cols = ("recommender", "condition", f"Recall@{k}", f"NDCG@{k}", f"cold share@{k}", "users", "fit s")
        body = [
            (
                str(r["recommender"]),
                str(r["condition"]),
                f"{r[f'recall@{k}_mean']:.4f} ± {r[f'recall@{k}_std']:.4f}",
                f"{r[f'ndcg@{k}_mean']:.4f} ± {r[f'ndcg@{k}_std']:.4f}",
                "–" if r["cold_share_mean"] is None else f"{r['cold_share_mean']:.4f}",
                str(r["users"]),
                f"{r['fit_seconds_mean']:.1f}",
            )
            for r in self.summary()
        ]
        widths = [max(len(c), *(len(row[i]) for row in body)) if body else len(c) for i, c in enumerate(cols)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        return "\n".join([head, line(cols), line(["-" * w for w in widths]), *(line(row) for row in body)])

    def to_json(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "k": self.k,
            "seeds": self.seeds,
            "settings": {name: {k: v for k, v in dataclasses.asdict(s).items() if k != "seed"}
                         for name, s in self.settings.items()},
            "summary": self.summary(),
            "runs": [dataclasses.asdict(r) for r in self.runs],
            "splits": {str(s): v for s, v in self.splits.items()},
        }

    def write_json(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def _std(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def evaluate(
    protocol: str,
    data_export: GraphExport,
    text_features: Mapping[str, np.ndarray] | None,
    recommenders: Sequence[RecommenderFactory] | None = None,
    seeds: Sequence[int] = (0,),
    changes: Mapping[str, object] | None = None,
    split_dir: Path | str | None = None,
    k: int = 20,
    batch_size: int = 256,
    embed: Embed | None = None,
) -> EvaluationResult:
    """Evaluate every recommender the same way under ``protocol`` over ``seeds``.

    Args:
        protocol: one of :data:`kgrec.gnn.splits.PROTOCOLS`.
        data_export: the whole graph (all interactions); splits are made from it.
        text_features: ``{"Item": (n_items, d), "Entity": (n_entities, d)}`` text embeddings
            aligned with the export's rows (``kgrec.text.features.node_text_features``).
        recommenders: factories (classes) of the recommenders to compare; default
            ``default_recommenders()``.
        seeds: one split and one training run per seed (the settings' ``seed`` is set to it).
        changes: :class:`TrainSettings` fields to change in every recommender's own
            :meth:`~kgrec.gnn.recommender.Recommender.default_settings` (e.g. ``{"epochs": 50}``).
        split_dir: when given, the split of seed ``s`` is read from
            ``split_dir/<protocol>-seed<s>`` if it exists there, else made and written there.
        k: the cut-off of Recall@K and NDCG@K.
        embed: the text encoder, needed by ``cold-item-text`` (the held-out items' text
            without their facts) and ``text-user`` (the users' sentences).
    """
    changes = dict(changes or {})
    recommenders = list(recommenders) if recommenders is not None else default_recommenders()
    item_text, entity_text = _text(data_export, text_features)
    if protocol in ("cold-item-text", "text-user") and embed is None:
        raise KgrecError(f"the {protocol} protocol needs the text encoder (embed)")
    result = EvaluationResult(protocol=protocol, k=k, seeds=list(seeds))
    for seed in seeds:
        split = _split_for(data_export, protocol, seed, split_dir)
        result.splits[seed] = {**split.counts(), "fingerprint": split.fingerprint}
        export = data_export
        if protocol == "cold-item-text":
            export = splits_mod.without_item_facts(data_export, split.cold_items)
            item_text = _item_text(export, embed)  # type: ignore[arg-type]
        data = TrainData(
            export=training_export(export, split.train),
            train=split.train,
            valid=split.valid,
            item_text=item_text,
            entity_text=entity_text,
            train_ratings=_ratings(data_export, split.train),
        )
        conditions = conditions_for(split, data_export, embed)
        for factory in recommenders:
            recommender = factory()
            name = getattr(recommender, "name", type(recommender).__name__)
            settings = dataclasses.replace(recommender.default_settings(), **changes, seed=seed)
            result.settings.setdefault(name, settings)
            started = time.perf_counter()
            recommender.fit(data, settings)
            fit_seconds = time.perf_counter() - started
            for condition in conditions:
                started = time.perf_counter()
                scores = rank(recommender, condition, k, batch_size)
                score_seconds = time.perf_counter() - started
                for label, metrics in scores.items():
                    run = Run(name, label, seed, metrics[f"recall@{k}"], metrics[f"ndcg@{k}"], int(metrics["users"]),
                              fit_seconds, score_seconds, metrics.get("cold_share"))
                    result.runs.append(run)
                    log.info("seed %d %s %s: recall %.4f ndcg %.4f (%d users)", seed, name, label, run.recall, run.ndcg, run.users)
    return result


def _split_for(export: GraphExport, protocol: str, seed: int, split_dir: Path | str | None) -> Split:
    if split_dir is None:
        return splits_mod.make_split(export, protocol, seed)
    path = Path(split_dir) / f"{protocol}-seed{seed}"
    if (path / "split.json").is_file():
        split = splits_mod.load(path, export)
        if split.protocol != protocol:
            raise KgrecError(f"{path} holds a {split.protocol} split, not {protocol}")
        return split
    split = splits_mod.make_split(export, protocol, seed)
    splits_mod.save(split, path, export)
    return split


def _item_text(export: GraphExport, embed: Embed) -> np.ndarray:
    """Item text embeddings of ``export`` as it is (items without facts get sentences
    without them)."""
    from kgrec.text.sentences import item_sentences

    return np.asarray(embed(item_sentences(export)), dtype=np.float32)


def _text(export: GraphExport, text: Mapping[str, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    n_items = len(export.nodes["Item"])
    n_entities = len(export.nodes["Entity"]) if "Entity" in export.nodes else 0
    text = text or {}
    item = text.get("Item")
    if item is None:
        raise KgrecError("evaluation needs item text embeddings (text_features['Item'])")
    item = np.asarray(item, dtype=np.float32)
    if item.shape[0] != n_items:
        raise KgrecError(f"item text embeddings have {item.shape[0]} rows for {n_items} items")
    entity = text.get("Entity")
    entity = np.zeros((n_entities, item.shape[1]), np.float32) if entity is None else np.asarray(entity, dtype=np.float32)
    return item, entity


def training_export(export: GraphExport, train: np.ndarray) -> GraphExport:
    """A shallow copy of ``export`` whose INTERACTED edges are only the ``train`` pairs."""
    edges = dict(export.edges)
    if INTERACTIONS in edges:
        frame = edges[INTERACTIONS]
        n_items = max(len(export.nodes["Item"]), 1)
        keys = frame["src"].to_numpy(np.int64) * n_items + frame["dst"].to_numpy(np.int64)
        keep = np.isin(keys, np.asarray(train[0], np.int64) * n_items + np.asarray(train[1], np.int64))
        edges[INTERACTIONS] = frame[keep].reset_index(drop=True)
    return GraphExport(nodes=export.nodes, edges=edges)


def _ratings(export: GraphExport, pairs: np.ndarray) -> np.ndarray | None:
    frame = export.edges.get(INTERACTIONS)
    if frame is None or "rating" not in frame:
        return None
    n_items = max(len(export.nodes["Item"]), 1)
    lookup = pd.Series(frame["rating"].to_numpy(np.float64), index=frame["src"].to_numpy(np.int64) * n_items + frame["dst"].to_numpy(np.int64))
    return lookup.reindex(pairs[0].astype(np.int64) * n_items + pairs[1].astype(np.int64)).to_numpy(np.float32)


# --- conditions ----------------------------------------------------------------------------


@dataclass
class Condition:
    """Queries to score, their test items, what to mask, and the candidate sets to rank
    among (label -> item indices, None for all items)."""

    queries: list[UserQuery]
    truth: np.ndarray
    """``(2, E)`` (query row, item)."""
    exclude: np.ndarray
    """``(2, E)`` (query row, item)."""
    candidates: dict[str, np.ndarray | None]
    cold: np.ndarray | None = None
    """``(n_items,)`` bool: items without training interactions (for the cold share)."""


def conditions_for(split: Split, export: GraphExport, embed: Embed | None = None) -> list[Condition]:
    """The conditions of ``split``; ``embed`` writes the ``text-user`` queries' text."""
    n_items = len(export.nodes["Item"])
    cold = np.bincount(split.train[1], minlength=n_items)[:n_items] == 0
    if split.protocol == "warm":
        conditions = [_known_users(split, {"warm": None})]
    elif split.protocol in ITEM_PROTOCOLS:
        p = split.protocol
        conditions = [_known_users(split, {f"{p}/among-cold": split.cold_items, f"{p}/among-all": None})]
    elif split.protocol == ALDI_PROTOCOL:
        on_cold = np.isin(split.test[1], split.cold_items)
        conditions = [
            _known_users(split, {"aldi/cold": split.cold_items}, split.test[:, on_cold]),
            _known_users(split, {"aldi/warm": np.unique(split.train[1])}, split.test[:, ~on_cold]),
            _known_users(split, {"aldi/overall": None}),
        ]
    elif split.protocol == "text-user":
        if embed is None:
            raise KgrecError("the text-user protocol needs the text encoder (embed)")
        conditions = [_text_users(_new_users(split, n, {}), export, embed, n) for n in TEXT_REVEAL_COUNTS]
    else:
        attributes = group_by_user(export.edge_index(USER_ATTRIBUTES), split.cold_users) if USER_ATTRIBUTES in export.edges else {}
        conditions = [_new_users(split, n, attributes) for n in REVEAL_COUNTS]
    return [dataclasses.replace(c, cold=cold) for c in conditions]


def _known_users(split: Split, candidates: dict[str, np.ndarray | None], test: np.ndarray | None = None) -> Condition:
    """The users with pairs in ``test`` (default: the split's test pairs), their training
    and validation items masked."""
    test = split.test if test is None else test
    users = np.unique(test[0])
    rows = np.full(int(users.max(initial=-1)) + 1, -1)
    rows[users] = np.arange(len(users))
    seen = np.hstack([split.train, split.valid])
    seen = seen[:, np.isin(seen[0], users)]
    return Condition(
        queries=[UserQuery(user=int(u)) for u in users],
        truth=np.vstack([rows[test[0]], test[1]]),
        exclude=np.vstack([rows[seen[0]], seen[1]]),
        candidates=candidates,
    )


def _new_users(split: Split, n: int, attributes: dict[int, np.ndarray]) -> Condition:
    users = np.unique(split.test[0])
    rows = np.full(int(users.max(initial=-1)) + 1, -1)
    rows[users] = np.arange(len(users))
    revealed_mask = split.reveal_rank < n if split.reveal_rank is not None else np.zeros(split.test.shape[1], bool)
    shown, rest = split.test[:, revealed_mask], split.test[:, ~revealed_mask]
    shown_rank = split.reveal_rank[revealed_mask] if split.reveal_rank is not None else np.empty(0, np.int64)
    liked: dict[int, list[int]] = {}
    for j in np.argsort(shown_rank, kind="stable"):
        liked.setdefault(int(shown[0, j]), []).append(int(shown[1, j]))
    queries = [UserQuery(user=None, liked=tuple(liked.get(int(u), ())), attributes=tuple(int(a) for a in attributes.get(int(u), ()))) for u in users]
    return Condition(
        queries=queries,
        truth=np.vstack([rows[rest[0]], rest[1]]),
        exclude=np.vstack([rows[shown[0]], shown[1]]),
        candidates={f"cold-user/reveal-{n}": None},
    )


def _text_users(condition: Condition, export: GraphExport, embed: Embed, n: int) -> Condition:
    """``condition``'s new users with their liked items replaced by the embedding of a
    sentence naming them (:func:`kgrec.gnn.splits.describe_items`)."""
    sentences = [splits_mod.describe_items(export, list(q.liked)) for q in condition.queries]
    vectors = np.asarray(embed(sentences), dtype=np.float32)
    queries = [UserQuery(text=vector) for vector in vectors]
    return dataclasses.replace(condition, queries=queries, candidates={f"text-user/reveal-{n}": None})


def rank(recommender: Recommender, condition: Condition, k: int = 20, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Score every query of ``condition`` once and rank among each candidate set."""
    metrics = {label: RankingMetrics(k) for label in condition.candidates}
    cold = torch.as_tensor(condition.cold) if condition.cold is not None else None
    cold_slots = {label: [0, 0] for label, c in condition.candidates.items() if c is None and cold is not None}
    n = len(condition.queries)
    all_rows = np.arange(n)
    truth = group_by_user(condition.truth, all_rows)
    exclude = group_by_user(condition.exclude, all_rows)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = all_rows[start : start + batch_size]
            scores = recommender.score(condition.queries[start : start + batch_size])
            if scores.shape != (len(rows), scores.shape[1]):
                raise ValueError(f"{type(recommender).__name__}.score returned shape {tuple(scores.shape)} for {len(rows)} queries")
            batch_truth = _local_pairs(truth, rows, start)
            batch_exclude = _local_pairs(exclude, rows, start)
            for label, candidates in condition.candidates.items():
                top = topk_masked(scores, batch_exclude, k, candidates)
                metrics[label].update(top, batch_truth)
                if label in cold_slots:
                    cold_slots[label][0] += int(cold[top].sum())
                    cold_slots[label][1] += top.numel()
    out: dict[str, dict[str, float]] = {label: m.compute() for label, m in metrics.items()}
    for label, (hits, slots) in cold_slots.items():
        out[label]["cold_share"] = hits / max(slots, 1)
    return out


def _local_pairs(by_row: dict[int, np.ndarray], rows: np.ndarray, start: int) -> torch.Tensor:
    parts = [(np.full(len(by_row[r]), r - start), by_row[r]) for r in rows.tolist() if r in by_row]
    if not parts:
        return torch.empty(2, 0, dtype=torch.long)
    return torch.as_tensor(np.vstack([np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])]), dtype=torch.long)
