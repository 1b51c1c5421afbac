"""EASE against a hand computation, and behind the Recommender interface."""
import numpy as np
import pytest
import torch

from eval_fixtures import clustered_export, make_export
from kgrec.gnn.ease import EASE, MAX_ITEMS, ease_weights, gram_matrix
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.splits import make_split
from kgrec.kg.errors import KgrecError

# X = [[1, 1, 0], [0, 1, 1]]; G = XᵀX; with λ = 1, G + I = [[2,1,0],[1,3,1],[0,1,2]] has
# determinant 8 and P = (G + I)⁻¹ = [[5,-2,1],[-2,4,-2],[1,-2,5]] / 8, so
# B_ij = -P_ij / P_jj off the diagonal:
HAND_B = np.array([[0.0, 0.5, -0.2], [0.4, 0.0, 0.4], [-0.2, 0.5, 0.0]])
TRAIN = np.array([[0, 0, 1, 1], [0, 1, 1, 2]])


def data_for(export, train, valid=None):
    n_items = len(export.nodes["Item"])
    valid = np.empty((2, 0), np.int64) if valid is None else valid
    return TrainData(export, train, valid, np.eye(n_items, 4, dtype=np.float32), np.zeros((2, 4), np.float32))


def test_gram_and_weights_match_the_hand_computation():
    gram = gram_matrix(TRAIN, 3)
    assert gram.tolist() == [[1, 1, 0], [1, 2, 1], [0, 1, 1]]
    assert np.allclose(ease_weights(gram, 1.0), HAND_B, atol=1e-6)


def test_scores_are_the_sum_of_the_users_rows():
    export = make_export(TRAIN, n_users=2, n_items=3)
    rec = EASE(lambdas=(1.0,))
    assert isinstance(rec, Recommender)
    rec.fit(data_for(export, TRAIN), TrainSettings())
    scores = rec.score([UserQuery(user=0), UserQuery(liked=(2,)), UserQuery(user=0, liked=(2,))])
    assert torch.allclose(scores[0], torch.tensor([0.4, 0.5, 0.2]), atol=1e-6)       # rows 0 + 1
    assert torch.allclose(scores[1], torch.tensor([-0.2, 0.5, 0.0]), atol=1e-6)      # a new user: row 2
    assert torch.allclose(scores[2], torch.tensor([0.2, 1.0, 0.2]), atol=1e-6)       # known user + a new like


def test_a_query_without_items_gets_popularity():
    export = make_export(TRAIN, n_users=2, n_items=3)
    rec = EASE(lambdas=(1.0,))
    rec.fit(data_for(export, TRAIN), TrainSettings())
    assert rec.score([UserQuery(attributes=(0,))])[0].tolist() == [1.0, 2.0, 1.0]


def test_lambda_is_chosen_on_validation_and_recovers_clusters():
    export, group = clustered_export(n_users=80, n_items=80, per_user=15)
    split = make_split(export, "warm", seed=0)
    rec = EASE()
    rec.fit(data_for(export, split.train, split.valid), TrainSettings())
    assert rec.lam in rec.validation and rec.validation[rec.lam] == max(rec.validation.values())
    scores = rec.score([UserQuery(user=0)])[0]
    scores[split.train[1, split.train[0] == 0]] = -np.inf
    top = scores.topk(5).indices.numpy()
    assert (group[top] == 0).all()  # user 0 is in group 0


def test_refuses_a_catalog_too_large_for_a_dense_matrix():
    with pytest.raises(KgrecError, match="at most"):
        gram_matrix(np.array([[0], [0]]), MAX_ITEMS + 1)
