"""Baselines that run in the same harness as the model: most-popular, text-kNN and LightGCN.

Each implements ``kgrec.gnn.recommender.Recommender``: ``fit(TrainData, TrainSettings)`` then
``score(queries) -> (len(queries), n_items)``. None of them reads the export's
INTERACTED edges: they learn only from ``data.train`` (and early-stop on ``data.valid``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.nn.models import LightGCN

from kgrec.gnn.early_stopping import EarlyStopping
from kgrec.gnn.graph_tensors import symmetric_norm
from kgrec.gnn.losses import bpr_loss, l2_penalty, squared_norms
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.pairs import group_by_user, popularity
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.runtime import adam
from kgrec.gnn.sparse import csr_adjacency, propagated_mean, sorted_by_target
from kgrec.kg.device import resolve_device

log = logging.getLogger(__name__)


class MostPopular(Recommender):
    """Scores every item by its number of training interactions, the same for every user.

    Ties (all the items without training interactions, say) are broken at random with the
    seed, so ranking among tied items scores at chance rather than by id order."""

    name = "most-popular"

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        jitter = np.random.default_rng(settings.seed).random(data.n_items).astype(np.float32) * 0.5
        self.counts = torch.as_tensor(popularity(data.train, data.n_items) + jitter)

    def score(self, queries: Sequence[UserQuery]) -> Tensor:
        return self.counts.expand(len(queries), -1).clone()

    def __repr__(self) -> str:
        return "MostPopular()"


class TextKNN(Recommender):
    """Content-based: a user is the mean text embedding of the items they liked.

    ``score(u, i) = cos(p_u, t_i)`` with ``t_i`` the item's text embedding and
    ``p_u = mean_{j in liked(u)} t_j / ||t_j||``, where ``liked(u)`` is the user's training
    items plus ``query.liked``. A query with no liked items but free text uses the text
    embedding as ``p_u``; one with only attributes (or nothing) falls back to popularity.
    """

    name = "text-knn"

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        text = torch.as_tensor(np.asarray(data.item_text, dtype=np.float32))
        self.item_text = torch.nn.functional.normalize(text, dim=1)
        self.user_items = group_by_user(data.train, np.arange(data.n_users))
        self.counts = torch.as_tensor(popularity(data.train, data.n_items))

    def score(self, queries: Sequence[UserQuery]) -> Tensor:
        out = torch.empty(len(queries), self.item_text.size(0))
        for row, query in enumerate(queries):
            liked = list(query.liked)
            if query.user in self.user_items:
                liked = np.concatenate([self.user_items[query.user], np.asarray(liked, np.int64)]).astype(np.int64)
            if len(liked):
                profile = self.item_text[torch.as_tensor(liked, dtype=torch.long)].mean(0)
            elif query.text is not None:
                profile = torch.as_tensor(np.asarray(query.text, np.float32))
            else:
                out[row] = self.counts
                continue
            out[row] = self.item_text @ torch.nn.functional.normalize(profile, dim=0)
        return out

    def __repr__(self) -> str:
        return "TextKNN()"


class LightGCNBaseline(Recommender):
    """LightGCN (He et al., 2020) on the user–item training graph, PyG's
    ``torch_geometric.nn.models.LightGCN``, trained with BPR.

    Nodes are users ``0..U-1`` then items ``U..U+I-1``; ``E = sum_l alpha_l A_hat^l E0`` with
    ``A_hat = D^-1/2 A D^-1/2`` of the symmetric training graph and ``alpha_l = 1/(L+1)``.
    ``score(u, i) = e_u . e_i``. Loss per batch of (u, i+, i-) triples, one uniformly
    sampled negative per training interaction (never a training item of u):
    ``-mean log sigmoid(s(u,i+) - s(u,i-)) + weight_decay * ||E0[u, i+, i-]||^2 / B``
    (the regularisation is on the batch's layer-0 embeddings, as in the LightGCN paper;
    RecBole uses unsquared norms; not Adam weight decay on the whole table). Adam with ``settings.lr``; one epoch is one
    pass over the training interactions; early stopping on validation NDCG@20 every
    ``eval_every`` epochs with ``patience``, keeping the best epoch's weights.

    New users are folded in: ``e_u = mean`` of the final embeddings of their liked items;
    with none (attributes or text only), they get the training popularity ranking.
    """

    name = "lightgcn"

    @classmethod
    def default_settings(cls) -> TrainSettings:
        """``lr=0.02, batch_size=8192``, tuned on ml-100k's warm split (validation
        NDCG@20): with :class:`TrainSettings`' ``lr=1e-3, batch_size=2048`` LightGCN needs
        several hundred epochs of 36 full-graph propagations each, far past a 5-minute CPU
        budget; with these it early-stops after about 50 epochs at RecBole's reference
        quality."""
        return TrainSettings(lr=0.02, batch_size=8192)

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        self.settings = settings
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        device = resolve_device(settings.device)
        n_users, n_items = data.n_users, data.n_items
        self.n_users, self.n_items = n_users, n_items
        train = np.asarray(data.train, dtype=np.int64)
        self.counts = torch.as_tensor(popularity(train, n_items))
        self.user_items = group_by_user(train, np.arange(n_users))
        adj = normalized_adjacency(train, n_users, n_items).to(device)
        model = LightGCN(n_users + n_items, settings.dim, settings.layers, normalize=False).to(device)
        optimizer = adam(model.parameters(), settings.lr)
        seen = np.unique(train[0] * n_items + train[1])
        users_t = torch.as_tensor(train[0], device=device)
        items_t = torch.as_tensor(train[1] + n_users, device=device)
        stopper = EarlyStopping(model, settings.patience)
        started = time.perf_counter()
        self.history = []
        for epoch in range(1, settings.epochs + 1):
            model.train()
            perm = torch.as_tensor(rng.permutation(train.shape[1]), device=device)
            negatives = torch.as_tensor(sample_negatives(train[0], seen, n_items, rng) + n_users, device=device)
            total = 0.0
            for start in range(0, len(perm), settings.batch_size):
                idx = perm[start : start + settings.batch_size]
                u, pos, neg = users_t[idx], items_t[idx], negatives[idx]
                emb = propagate(model, adj)
                user = emb[u]
                pos_score = (user * emb[pos]).sum(-1)
                neg_score = (user * emb[neg]).sum(-1)
                ego = model.embedding.weight
                # Twice l2_penalty's weight: the LightGCN paper's lambda * |E0|^2, without the 1/2.
                reg = l2_penalty(ego[u], ego[pos], squared_norms(ego[neg]).unsqueeze(1), 2 * settings.weight_decay)
                loss = bpr_loss(pos_score, neg_score.unsqueeze(1)) + reg
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            record = {"epoch": epoch, "loss": total / len(perm)}
            if data.valid.size and epoch % settings.eval_every == 0:
                self._freeze(model, adj)
                valid = full_ranking(self._score_users, data.valid, train, k=20)
                record["valid_ndcg@20"] = valid["ndcg@20"]
                stopper.update(epoch, valid["ndcg@20"])
            record["seconds"] = time.perf_counter() - started
            self.history.append(record)
            log.info("lightgcn epoch %d: %s", epoch, record)
            if stopper.should_stop:
                break
        stopper.restore()
        self._freeze(model, adj)
        self.fit_seconds = time.perf_counter() - started
        self.best_valid_ndcg = stopper.best

    @torch.no_grad()
    def _freeze(self, model: LightGCN, adj: Tensor) -> None:
        model.eval()
        emb = propagate(model, adj).cpu()
        self.user_emb, self.item_emb = emb[: self.n_users], emb[self.n_users :]

    def _score_users(self, users: Tensor) -> Tensor:
        return self.user_emb[users] @ self.item_emb.T

    def score(self, queries: Sequence[UserQuery]) -> Tensor:
        out = torch.empty(len(queries), self.n_items)
        for row, query in enumerate(queries):
            liked = torch.as_tensor(np.asarray(query.liked, dtype=np.int64))
            known = query.user is not None and query.user in self.user_items
            if known:
                user = self.user_emb[query.user]
                if len(liked):
                    user = (user + self.item_emb[liked].mean(0)) / 2
            elif len(liked):
                user = self.item_emb[liked].mean(0)
            else:
                out[row] = self.counts
                continue
            out[row] = self.item_emb @ user
        return out

    def __repr__(self) -> str:
        return "LightGCNBaseline()"


def propagate(model: LightGCN, adj: Tensor) -> Tensor:
    """``model.get_embedding`` (``sum_l alpha_l A_hat^l E0``, PyG's uniform ``alpha_l =
    1 / (L + 1)``) with ``A_hat`` given already normalised and symmetric: the same numbers
    as PyG's LGConv path, several times faster on the CPU for training."""
    return propagated_mean(adj, model.embedding.weight, model.num_layers)


def normalized_adjacency(train: np.ndarray, n_users: int, n_items: int) -> Tensor:
    """``D^-1/2 A D^-1/2`` of the symmetric user–item graph as a sparse CSR tensor, users
    first, items offset by ``n_users`` (LightGCN's propagation matrix; the same
    normalisation as the model's, :func:`kgrec.gnn.graph_tensors.symmetric_norm`)."""
    u = torch.as_tensor(train[0], dtype=torch.long)
    i = torch.as_tensor(train[1], dtype=torch.long) + n_users
    n = n_users + n_items
    edge_index = sorted_by_target(torch.stack([torch.cat([u, i]), torch.cat([i, u])]), n)
    weight, _ = symmetric_norm(edge_index, n)
    return csr_adjacency(edge_index, weight, n)


def sample_negatives(users: np.ndarray, seen: np.ndarray, n_items: int, rng: np.random.Generator, tries: int = 10) -> np.ndarray:
    """One uniformly drawn item per interaction that the user has not interacted with in
    training (``seen`` is the sorted array of ``user * n_items + item`` keys)."""
    negatives = rng.integers(0, n_items, size=len(users))
    if len(seen) == 0:
        return negatives
    for _ in range(tries):
        keys = users * n_items + negatives
        clash = seen[np.searchsorted(seen, keys).clip(max=len(seen) - 1)] == keys
        if not clash.any():
            break
        negatives[clash] = rng.integers(0, n_items, size=int(clash.sum()))
    return negatives
