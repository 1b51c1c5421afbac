"""Full-ranking metrics: Recall@K and NDCG@K over all candidate items, with the items a
user has already seen masked.

Definitions (binary relevance; ``R_u`` is user ``u``'s set of test items, ``top_u`` the
``K`` highest-scored candidates in order, ``rel_i = 1`` when ``top_u[i]`` is in ``R_u``):

- ``Recall@K(u) = |top_u ∩ R_u| / |R_u|``
- ``NDCG@K(u) = DCG / IDCG`` with ``DCG = Σ_{i<K} rel_i / log2(i + 2)`` and
  ``IDCG = Σ_{i < min(K, |R_u|)} 1 / log2(i + 2)``

averaged over the users that have at least one test item (users with none are skipped,
not counted as zero).

The numbers come from PyTorch Geometric's ``LinkPredRecall`` and ``LinkPredNDCG``, whose
installed source (2.8) computes exactly the above: Recall divides by ``|R_u|``, not by
``min(K, |R_u|)``. That is RecBole's definition too (``recbole/evaluator/metrics.py``,
``Recall``: hits / positive count), so kgrec's numbers are comparable with the RecBole
reference points in DESIGN.md. Recall@20 of a user with 50 test items is therefore at
most 0.4; NDCG's ideal list is capped at K, so NDCG can reach 1.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor
from torch_geometric.metrics import LinkPredNDCG, LinkPredRecall

ScoreBatch = Callable[[Tensor], Tensor]
"""Scores for a batch of user rows: ``(B,)`` row ids -> ``(B, n_items)`` float tensor."""


def topk_masked(
    scores: Tensor,
    exclude: Tensor | np.ndarray | None = None,
    k: int = 20,
    candidates: Tensor | np.ndarray | None = None,
) -> Tensor:
    """Indices of the ``k`` best-scored items per row, never an excluded one while
    enough others remain.

    Args:
        scores: ``(B, n_items)`` scores; higher is better. Not modified.
        exclude: ``(2, E)`` pairs ``(row in scores, item)`` to mask (a user's training
            items), or a ``(B, n_items)`` bool mask.
        k: how many to return; capped at ``n_items``.
        candidates: item indices (or an ``(n_items,)`` bool mask) that may be ranked at
            all; every other item is masked (e.g. rank among the cold items only).

    Returns:
        A ``(B, min(k, n_items))`` int64 tensor of item indices, best first. Where fewer
        than ``k`` items are unmasked, the tail holds masked items, which can never be
        relevant, so they only count as misses.
    """
    scores = scores.detach().to(torch.float32).clone()
    n_items = scores.size(1)
    if exclude is not None:
        exclude = torch.as_tensor(exclude)
        if exclude.dtype == torch.bool:
            scores[exclude] = float("-inf")
        elif exclude.numel():
            scores[exclude[0].long(), exclude[1].long()] = float("-inf")
    if candidates is not None:
        candidates = torch.as_tensor(candidates)
        allowed = candidates if candidates.dtype == torch.bool else torch.zeros(n_items, dtype=torch.bool).index_fill_(0, candidates.long(), True)
        scores[:, ~allowed] = float("-inf")
    scores = torch.nan_to_num(scores, nan=float("-inf"))
    return scores.topk(min(k, n_items), dim=1).indices


class RankingMetrics:
    """Accumulates Recall@K and NDCG@K over batches of users.

    >>> m = RankingMetrics(k=20)
    >>> m.update(top, truth)   # top: (B, K) item indices; truth: (2, E) (row, item)
    >>> m.compute()            # {"recall@20": ..., "ndcg@20": ..., "users": ...}
    """

    def __init__(self, k: int = 20) -> None:
        self.k = k
        self._recall = LinkPredRecall(k)
        self._ndcg = LinkPredNDCG(k)
        self.users = 0

    def update(self, top: Tensor, truth: Tensor | np.ndarray) -> None:
        """``top``: ``(B, <=K)`` ranked item indices; ``truth``: ``(2, E)`` pairs (row in
        ``top``, relevant item)."""
        truth = torch.as_tensor(truth, dtype=torch.long)
        if top.size(0) == 0:
            return
        self._recall.update(top, truth)
        self._ndcg.update(top, truth)
        self.users += int(torch.unique(truth[0]).numel()) if truth.numel() else 0

    def compute(self) -> dict[str, float]:
        return {
            f"recall@{self.k}": float(self._recall.compute()),
            f"ndcg@{self.k}": float(self._ndcg.compute()),
            "users": self.users,
        }


def full_ranking(
    score_batch: ScoreBatch,
    truth: np.ndarray,
    exclude: np.ndarray | None = None,
    k: int = 20,
    candidates: np.ndarray | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Recall@K and NDCG@K of a scorer over every user that has a relevant item.

    Args:
        score_batch: maps ``(B,)`` user ids (the values in ``truth[0]``) to ``(B, n_items)``
            scores.
        truth: ``(2, E)`` (user, item) pairs to retrieve (validation or test).
        exclude: ``(2, E)`` (user, item) pairs to mask (the user's training items).
        candidates: optional item indices that may be ranked (all when None).

    Returns ``{"recall@K", "ndcg@K", "users"}``.
    """
    return full_rankings(score_batch, {"": truth}, exclude, k, candidates, batch_size)[""]


def full_rankings(
    score_batch: ScoreBatch,
    truths: Mapping[str, np.ndarray],
    exclude: np.ndarray | None = None,
    k: int = 20,
    candidates: np.ndarray | None = None,
    batch_size: int = 1024,
) -> dict[str, dict[str, float]]:
    """:func:`full_ranking` of several sets of pairs under one scorer, each user's list
    ranked once: ``{name: {"recall@K", "ndcg@K", "users"}}`` for each ``truths[name]``
    (each averaged over its own users)."""
    metrics = {name: RankingMetrics(k) for name in truths}
    truths = {name: np.asarray(truth, dtype=np.int64).reshape(2, -1) for name, truth in truths.items()}
    users = np.unique(np.concatenate([truth[0] for truth in truths.values()]))
    truth_batches = {name: _batched_pairs(truth, users, batch_size) for name, truth in truths.items()}
    exclude_batches = _batched_pairs(exclude, users, batch_size)
    for b, start in enumerate(range(0, len(users), batch_size)):
        scores = score_batch(torch.as_tensor(users[start : start + batch_size]))
        top = topk_masked(scores, exclude_batches[b], k, candidates)
        for name, batches in truth_batches.items():
            metrics[name].update(top, batches[b])
    return {name: found.compute() for name, found in metrics.items()}


def _batched_pairs(pairs: np.ndarray | None, users: np.ndarray, batch_size: int) -> list[Tensor]:
    """Split (user, item) ``pairs`` into per-batch ``(2, E)`` (row in batch, item) tensors,
    for the sorted unique ``users`` cut into batches of ``batch_size``; pairs of other
    users are dropped."""
    n_batches = (len(users) + batch_size - 1) // batch_size
    if pairs is None or np.size(pairs) == 0:
        return [torch.empty(2, 0, dtype=torch.long) for _ in range(n_batches)]
    pairs = np.asarray(pairs, dtype=np.int64).reshape(2, -1)
    pos = np.searchsorted(users, pairs[0]).clip(max=max(len(users) - 1, 0))
    keep = users[pos] == pairs[0] if len(users) else np.zeros(pairs.shape[1], bool)
    pos, items = pos[keep], pairs[1, keep]
    order = np.argsort(pos, kind="stable")
    pos, items = pos[order], items[order]
    bounds = np.searchsorted(pos, np.arange(n_batches + 1) * batch_size)
    return [
        torch.as_tensor(np.vstack([pos[a:b] - i * batch_size, items[a:b]]), dtype=torch.long)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]
