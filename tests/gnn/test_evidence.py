"""The new-user shrinkage towards the prior: its weight, its blend and its choice on
validation (with a scorer built here: the choice is code around a model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.gnn.evidence import Evidence, blend, choose_evidence, prior_query
from kgrec.gnn.recommender import UserQuery


def test_weight_grows_with_what_the_user_revealed() -> None:
    evidence = Evidence(items=2.0, text=4.0, anonymous=1.0)
    assert evidence.weight(UserQuery(liked=(1,), attributes=(0,))) == pytest.approx(1 / 3)
    assert evidence.weight(UserQuery(liked=(1, 2, 3, 4, 5, 6), attributes=(0,))) == pytest.approx(6 / 8)
    assert evidence.weight(UserQuery(liked=(1,))) == pytest.approx(1 / 2), "against the average user"
    assert evidence.weight(UserQuery(text=np.zeros(3))) == pytest.approx(0.25 / 1.25)
    both = evidence.weight(UserQuery(liked=(1, 2), attributes=(0,), text=np.zeros(3)))
    assert both == pytest.approx(1.25 / 2.25)
    assert evidence.weight(UserQuery(user=3, liked=(1,))) == 1.0, "a known user is its own prior"
    assert evidence.weight(UserQuery(attributes=(0,))) == 1.0, "attributes alone are the prior"
    assert Evidence(items=0.0).weight(UserQuery(liked=(1,), attributes=(0,))) == 1.0, "constant 0: no shrinkage"
    assert Evidence(items=0.0, text=3.0).weight(UserQuery(liked=(1,), attributes=(0,), text=np.zeros(3))) == 1.0


def test_prior_keeps_attributes_only_and_blend_is_row_wise() -> None:
    query = UserQuery(liked=(4, 5), attributes=(2, 7), text=np.ones(3))
    assert prior_query(query) == UserQuery(attributes=(2, 7))
    full, prior = torch.tensor([[1.0, 0.0], [3.0, 3.0]]), torch.tensor([[0.0, 1.0], [1.0, -1.0]])
    out = blend(full, prior, torch.tensor([0.25, 1.0]))
    assert torch.allclose(out, torch.tensor([[0.25, 0.75], [3.0, 3.0]]))


def test_state_round_trip() -> None:
    evidence = Evidence(items=3.0, text=8.0, anonymous=1.0)
    assert Evidence.from_state(evidence.state()) == evidence


def _world(prior_is_right: bool):
    """20 users, 30 items; each user's validation item is ``u % 30``. The prior (attributes)
    puts it first and a user's own list last when ``prior_is_right``, and the reverse
    otherwise; text is useless either way."""
    n_users, n_items = 20, 30
    user_items = {u: np.array([(u + 7 + k) % n_items for k in range(8)]) for u in range(n_users)}
    valid = np.array([list(range(n_users)), [u % n_items for u in range(n_users)]])
    train = np.array([[u for u in range(n_users) for _ in range(8)],
                      [i for u in range(n_users) for i in user_items[u]]])
    attributes = {u: (100 + u,) for u in range(n_users)}

    def score(queries):
        out = torch.zeros(len(queries), n_items)
        for q, query in enumerate(queries):
            if query.attributes and not query.liked:
                user = query.attributes[0] - 100
                out[q, user % n_items] = 5.0 if prior_is_right else -5.0
            elif query.liked:
                user = next(u for u, items in user_items.items() if set(query.liked) <= set(items.tolist()))
                out[q, user % n_items] = -5.0 if prior_is_right else 5.0
        return out

    return score, user_items, attributes, np.eye(n_items, 8, dtype=np.float32) + 0.1, train, valid


def test_choice_follows_validation() -> None:
    prior_wins = choose_evidence(*_world(prior_is_right=True), seed=0)
    own_wins = choose_evidence(*_world(prior_is_right=False), seed=0)
    assert prior_wins.items > 0 and own_wins.items == 0.0
    liked = UserQuery(liked=(1,), attributes=(0,))
    assert prior_wins.weight(liked) < own_wins.weight(liked)


def test_no_usable_validation_users_means_no_shrinkage() -> None:
    score, user_items, attributes, text, train, valid = _world(True)
    few = {u: items[:3] for u, items in user_items.items()}
    assert choose_evidence(score, few, attributes, text, train, valid, seed=0) == Evidence()
