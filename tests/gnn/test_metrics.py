"""Recall@K and NDCG@K on cases worked out by hand (2 users, 6 items, K = 3), and several
pair sets ranked at once."""
import math

import numpy as np
import pytest
import torch

from kgrec.gnn.metrics import RankingMetrics, full_ranking, full_rankings, topk_masked

SCORES = torch.tensor(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # user 0
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # user 1
    ]
)
TRAIN = np.array([[0, 1], [0, 5]])  # user 0 saw item 0, user 1 saw item 5
TEST = np.array([[0, 0, 1, 1, 1, 1], [2, 5, 4, 3, 0, 1]])  # user 0: {2, 5}; user 1: {4, 3, 0, 1}


def test_topk_masked_skips_training_items():
    top = topk_masked(SCORES, torch.as_tensor(TRAIN), k=3)
    assert top.tolist() == [[1, 2, 3], [4, 3, 2]]


def test_topk_masked_bool_mask_and_candidates():
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, 1] = True
    top = topk_masked(SCORES, mask, k=2, candidates=np.array([1, 3, 4]))
    assert top.tolist() == [[3, 4], [4, 3]]


def test_topk_masked_caps_k_at_item_count():
    assert topk_masked(SCORES, None, k=50).shape == (2, 6)


def test_recall_and_ndcg_by_hand():
    # user 0: top [1, 2, 3], relevant {2, 5}: one hit at rank 2.
    #   recall = 1/2; DCG = 1/log2(3); IDCG = 1 + 1/log2(3) (min(K, 2) = 2 ideal hits)
    # user 1: top [4, 3, 2], relevant {4, 3, 0, 1}: hits at ranks 1 and 2.
    #   recall = 2/4 (divides by |relevant| = 4, not by min(K, 4) = 3)
    #   DCG = 1 + 1/log2(3); IDCG = 1 + 1/log2(3) + 1/log2(4) (capped at K = 3)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg1 = (1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / 2)
    m = RankingMetrics(k=3)
    m.update(topk_masked(SCORES, torch.as_tensor(TRAIN), k=3), TEST)
    out = m.compute()
    assert out["recall@3"] == pytest.approx((0.5 + 0.5) / 2)
    assert out["ndcg@3"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert ndcg0 == pytest.approx(0.386853, abs=1e-6)
    assert ndcg1 == pytest.approx(0.765361, abs=1e-6)
    assert out["users"] == 2


def test_users_without_test_items_are_skipped_not_zero():
    m = RankingMetrics(k=3)
    top = topk_masked(SCORES, torch.as_tensor(TRAIN), k=3)
    m.update(top, np.array([[1, 1], [4, 3]]))  # only user 1 has test items; 2 of 2 found
    out = m.compute()
    assert out["recall@3"] == pytest.approx(1.0)
    assert out["ndcg@3"] == pytest.approx(1.0)
    assert out["users"] == 1


def test_full_ranking_batches_and_maps_user_ids():
    users_scores = {7: SCORES[0], 9: SCORES[1]}

    def score_batch(users):
        return torch.stack([users_scores[int(u)] for u in users])

    truth = TEST.copy()
    truth[0] = np.where(truth[0] == 0, 7, 9)
    exclude = np.array([[7, 9], [0, 5]])
    out = full_ranking(score_batch, truth, exclude, k=3, batch_size=1)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg1 = (1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / 2)
    assert out["recall@3"] == pytest.approx(0.5)
    assert out["ndcg@3"] == pytest.approx((ndcg0 + ndcg1) / 2)


def test_full_ranking_among_candidates():
    # rank only items {2, 4, 5}; user 0 relevant {2, 5} -> top-2 [2, 4]: recall 1/2
    def score_batch(users):
        return SCORES[users]

    out = full_ranking(score_batch, np.array([[0, 0], [2, 5]]), None, k=2, candidates=np.array([2, 4, 5]))
    assert out["recall@2"] == pytest.approx(0.5)
    assert out["ndcg@2"] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_several_pair_sets_ranked_once_equal_each_ranked_alone() -> None:
    rng = np.random.default_rng(0)
    scores = torch.as_tensor(rng.normal(size=(30, 40)), dtype=torch.float32)
    exclude = np.vstack([rng.integers(0, 30, 60), rng.integers(0, 40, 60)])
    # Different users in each set: some in both, some in one only.
    warm = np.vstack([rng.integers(0, 20, 50), rng.integers(0, 40, 50)])
    new = np.vstack([rng.integers(10, 30, 30), rng.integers(0, 40, 30)])
    together = full_rankings(lambda ids: scores[ids], {"warm": warm, "new": new}, exclude, k=5, batch_size=7)
    for name, pairs in (("warm", warm), ("new", new)):
        alone = full_ranking(lambda ids: scores[ids], pairs, exclude, k=5, batch_size=7)
        assert together[name] == pytest.approx(alone, rel=1e-6)  # batches differ: the sums' order only
