r"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a
closed-form item–item regression, the warm anchor of the evaluation.

For the binary user × item training matrix :math:`X` and a regularisation :math:`\lambda`:

.. math::

    P &= (X^\top X + \lambda I)^{-1} \\
    B &= I - P\, \mathrm{diag}(1 / \mathrm{diag}\, P) \qquad (\text{so } B_{jj} = 0) \\
    s(u, \cdot) &= x_u B

where :math:`x_u \in \{0, 1\}^I` marks the user's items: its training items plus any
``query.liked`` (a known user with new likes), or only the liked items for a new user
(the fold-in is the sum of the liked items' rows of :math:`B`). A query with no items
(attributes or text only) gets the training popularity ranking.

:math:`\lambda` is chosen from :data:`LAMBDAS` by validation NDCG@20 (full ranking,
training items masked). ``B`` is dense, ``I × I``: catalogs above :data:`MAX_ITEMS`
items are refused.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.pairs import group_by_user, popularity
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.kg.errors import KgrecError

log = logging.getLogger(__name__)

LAMBDAS = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)
"""The grid :math:`\\lambda` is chosen from (Steck reports 200–500 on MovieLens-20M)."""
MAX_ITEMS = 20_000
"""A dense ``I × I`` float32 matrix of 20k items is 1.6 GB; beyond that EASE does not fit."""


def gram_matrix(pairs: np.ndarray, n_items: int) -> np.ndarray:
    r""":math:`X^\top X` ``(I, I)`` float64 of the binary matrix of ``(2, E)`` (user, item)
    ``pairs`` (duplicates count once)."""
    pairs = np.unique(np.asarray(pairs, dtype=np.int64).reshape(2, -1), axis=1)
    if n_items > MAX_ITEMS:
        raise KgrecError(f"EASE keeps a dense item x item matrix and handles at most {MAX_ITEMS:,} items; "
                         f"this catalog has {n_items:,}")
    n_users = int(pairs[0].max()) + 1 if pairs.size else 0
    # Sparse: the cost is the sum of squared user degrees, and memory never holds a dense
    # user x item matrix (1M users x 10k items would be 80 GB).
    x = scipy.sparse.csr_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(n_users, n_items))
    return (x.T @ x).toarray()


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    r"""``B = I − P·diag(1/diag P)`` with ``P = (gram + λI)⁻¹``, ``(I, I)`` float32 (zero
    diagonal)."""
    g = torch.as_tensor(gram, dtype=torch.float64).clone()
    g.diagonal().add_(lam)
    p = torch.linalg.inv(g)
    b = -p / p.diagonal().unsqueeze(0)
    b.diagonal().zero_()
    return b.float().numpy()


def user_rows(queries: Sequence[UserQuery], user_items: Mapping[int, np.ndarray], n_items: int) -> Tensor:
    """The binary ``(Q, I)`` matrix of each query's items: a known user's training items
    plus its liked ones, a new user's liked ones."""
    x = torch.zeros(len(queries), n_items)
    for row, query in enumerate(queries):
        items = [int(i) for i in query.liked]
        if query.user is not None and query.user in user_items:
            items += user_items[query.user].tolist()
        if items:
            x[row, torch.as_tensor(items, dtype=torch.long)] = 1.0
    return x


def choose_lambda(gram: np.ndarray, train: np.ndarray, valid: np.ndarray,
                  lambdas: Sequence[float] = LAMBDAS) -> tuple[float, np.ndarray, dict[float, float]]:
    """The λ of ``lambdas`` with the best validation NDCG@20, its ``B``, and every λ's
    NDCG@20 (the first λ when there is no validation data)."""
    n_items = gram.shape[0]
    users = np.unique(valid[0]) if valid.size else np.empty(0, np.int64)
    x_valid = _binary(train, users, n_items)
    best: tuple[float, np.ndarray | None, float] = (lambdas[0], None, -1.0)
    found: dict[float, float] = {}
    for lam in lambdas:
        b = ease_weights(gram, lam)
        if not users.size:
            return lam, b, found
        bt = torch.as_tensor(b)
        position = {int(u): r for r, u in enumerate(users)}

        def score(batch: Tensor) -> Tensor:
            return x_valid[[position[int(u)] for u in batch]] @ bt

        ndcg = full_ranking(score, valid, train, k=20)["ndcg@20"]
        found[lam] = ndcg
        log.info("EASE lambda %g: validation NDCG@20 %.4f", lam, ndcg)
        if ndcg > best[2]:
            best = (lam, b, ndcg)
    assert best[1] is not None
    return best[0], best[1], found


def _binary(pairs: np.ndarray, users: np.ndarray, n_items: int) -> Tensor:
    """Rows of ``users`` (sorted) of the binary matrix of ``pairs``."""
    x = torch.zeros(len(users), n_items)
    keep = np.isin(pairs[0], users)
    rows = np.searchsorted(users, pairs[0, keep])
    x[torch.as_tensor(rows), torch.as_tensor(pairs[1, keep])] = 1.0
    return x


class EASE(Recommender):
    """EASE behind the :class:`~kgrec.gnn.recommender.Recommender` interface (see the module
    docstring); λ from :data:`LAMBDAS` on ``data.valid``."""

    name = "ease"

    def __init__(self, lambdas: Sequence[float] = LAMBDAS) -> None:
        self.lambdas = tuple(lambdas)
        self.lam: float | None = None
        self.validation: dict[float, float] = {}

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        train = np.asarray(data.train, dtype=np.int64).reshape(2, -1)
        valid = np.asarray(data.valid, dtype=np.int64).reshape(2, -1)
        self.n_items = data.n_items
        gram = gram_matrix(train, data.n_items)
        self.lam, b, self.validation = choose_lambda(gram, train, valid, self.lambdas)
        self.weights = torch.as_tensor(b)
        self.user_items = group_by_user(train, np.arange(data.n_users))
        self.counts = torch.as_tensor(popularity(train, data.n_items))

    def score(self, queries: Sequence[UserQuery]) -> Tensor:
        x = user_rows(queries, self.user_items, self.n_items)
        out = x @ self.weights
        empty = x.sum(1) == 0
        out[empty] = self.counts
        return out

    def __repr__(self) -> str:
        return f"EASE(lambda={self.lam})"
