r"""How far a new user's own signals move their list away from a prior.

A new user (no trained ID embedding) who liked one item is a thin piece of evidence: the
fold-in from that item alone ranks worse than the list the user's attributes give (or,
with none, the population's), because one item says little about which of the popular
items the user will also take. So the final scores of a new user blend two lists, each
already on the per-user standardised scale of :mod:`kgrec.gnn.fusion`:

.. math::

    s_u = w\, f_u + (1 - w)\, p_u, \qquad w = \frac{e}{1 + e}, \qquad
    e = \frac{n_{\text{liked}}}{c} + \frac{[\text{text given}]}{c_t}

where :math:`f_u` is the list of everything the user gave (liked items, attributes,
text), :math:`p_u` the *prior* list (the attributes alone; the average warm user when
there are none), :math:`c` the number of liked items at which the two weigh the same —
one constant against an attribute prior, another (``anonymous``) against the average
user, a far weaker prior — and :math:`c_t` the same for a free-text description (a
constant of 0 lets that kind of signal count fully). For liked items alone
:math:`w = n/(n + c)`: the shrinkage of a per-user estimate towards the population by its
amount of evidence (the credibility weight of empirical Bayes). The constants are
chosen on validation (:func:`choose_evidence`): validation users play new users who
revealed 1, 3 and 5 of their training items, with their attributes and without (or a
text made of those items' text embeddings), and their validation pairs are ranked among all items with their training
items masked, as in training's own validation. (Ranking all their other items instead,
training ones included, as a user held out whole would be, counts pairs the model was
fitted on: the user's own list then looks better than it is, and on ml-100k that choice
picked 1–5 where this one picks about 8, and ranked the test's new users worse.)
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.recommender import UserQuery

log = logging.getLogger(__name__)

CONSTANTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)
""":math:`c` and :math:`c_t` tried (0: no shrinkage, the user's own list only)."""
REVEALED = (1, 3, 5)
"""Items a simulated new user reveals (the cold-user protocol's counts)."""
MAX_USERS = 500
"""Validation users simulated (a sample; enough to separate the settings)."""


@dataclass
class Evidence:
    """:math:`c` against an attribute prior (``items``) and against the average user
    (``anonymous``), and :math:`c_t` (``text``), of the module docstring."""

    items: float = 0.0
    text: float = 0.0
    anonymous: float = 0.0

    def weight(self, query: UserQuery) -> float:
        """:math:`w` for ``query``: 1 for a known user (its own embedding is its prior) and
        for a query that is its own prior (attributes only, or nothing)."""
        if query.user is not None or (not query.liked and query.text is None):
            return 1.0
        evidence = 0.0
        liked = self.items if query.attributes else self.anonymous
        for amount, constant in ((len(query.liked), liked), (float(query.text is not None), self.text)):
            if amount:
                if constant <= 0:
                    return 1.0
                evidence += amount / constant
        return evidence / (1 + evidence)

    def state(self) -> dict[str, Tensor]:
        return {"evidence": torch.tensor([self.items, self.text, self.anonymous], dtype=torch.float64)}

    @classmethod
    def from_state(cls, state: dict[str, Tensor]) -> Evidence:
        items, text, anonymous = (float(v) for v in state["evidence"].tolist())
        return cls(items, text, anonymous)


def prior_query(query: UserQuery) -> UserQuery:
    """What is known of a new user before their likes and words: their attributes (none
    makes the empty query, which the model scores as the average warm user)."""
    return UserQuery(attributes=tuple(query.attributes))


def blend(full: Tensor, prior: Tensor, weight: Tensor) -> Tensor:
    """:math:`w f + (1 - w) p` row by row; ``weight`` ``(Q,)``."""
    w = weight.to(full.dtype).unsqueeze(1)
    return w * full + (1 - w) * prior


def choose_evidence(
    score: Callable[[Sequence[UserQuery]], Tensor],
    user_items: dict[int, np.ndarray],
    user_attributes: dict[int, Sequence[int]],
    item_text: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    seed: int,
) -> Evidence:
    """The three constants, each with the best mean validation NDCG@20 over the counts in
    :data:`REVEALED`.

    Args:
        score: the model's scores ``(Q, I)`` with no shrinkage (``Evidence()``).
        user_items: each validation user's training items (export positions).
        user_attributes: each user's attribute entities (export positions).
        item_text: ``(I, t)`` the items' text embeddings; a simulated description is the
            mean of its revealed items' (unit-normalised).
        train, valid: ``(2, E)`` (user, item) pairs; the user's training items are masked,
            the validation pairs are the truth.
    """
    rng = np.random.default_rng(seed)
    users = np.array(sorted(u for u in np.unique(valid[0]).tolist() if len(user_items.get(u, ())) > max(REVEALED)))
    if users.size == 0:
        return Evidence()
    if users.size > MAX_USERS:
        users = np.sort(rng.choice(users, MAX_USERS, replace=False))
    truth = valid[:, np.isin(valid[0], users)]
    seen = train[:, np.isin(train[0], users)]
    row = {int(u): r for r, u in enumerate(users)}
    unit = item_text / np.linalg.norm(item_text, axis=1, keepdims=True).clip(min=1e-12)

    def ndcg(scores: Tensor) -> float:
        return full_ranking(lambda ids: scores[[row[int(u)] for u in ids]], truth, seen, k=20)["ndcg@20"]

    attributes = [tuple(user_attributes.get(int(u), ())) for u in users]
    prior = score([UserQuery(attributes=a) for a in attributes])
    liked, alone, described = {}, {}, {}
    for n in REVEALED:
        revealed = [rng.choice(user_items[int(u)], n, replace=False) for u in users]
        liked[n] = score([UserQuery(liked=tuple(int(i) for i in r), attributes=a) for r, a in zip(revealed, attributes)])
        alone[n] = score([UserQuery(liked=tuple(int(i) for i in r)) for r in revealed])
        described[n] = score([UserQuery(text=unit[r].mean(0).astype(np.float32)) for r in revealed])
    empty = score([UserQuery() for _ in users])

    def mean_ndcg(lists: dict[int, Tensor], prior_list: Tensor, evidence: Evidence, query: Callable[[int], UserQuery]) -> float:
        found = [ndcg(blend(lists[n], prior_list, torch.full((len(users),), evidence.weight(query(n))))) for n in REVEALED]
        return float(np.mean(found))

    items_found = {c: mean_ndcg(liked, prior, Evidence(items=c), lambda n: UserQuery(liked=tuple(range(n)), attributes=(0,)))
                   for c in CONSTANTS}
    alone_found = {c: mean_ndcg(alone, empty, Evidence(anonymous=c), lambda n: UserQuery(liked=tuple(range(n))))
                   for c in CONSTANTS}
    text_found = {c: mean_ndcg(described, empty, Evidence(text=c), lambda n: UserQuery(text=np.zeros(1)))
                  for c in CONSTANTS}
    evidence = Evidence(_best(items_found), _best(text_found), _best(alone_found))
    log.info("new users: validation NDCG@20 by liked-item constant %s, without attributes %s, by text constant %s -> %s",
             *({k: round(v, 4) for k, v in found.items()} for found in (items_found, alone_found, text_found)), evidence)
    return evidence


def _best(found: dict[float, float]) -> float:
    """The constant with the best validation NDCG@20 (ties: the larger, more shrinkage)."""
    return max(found, key=lambda k: (found[k], k))
