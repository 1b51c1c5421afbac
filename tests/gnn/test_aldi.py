"""ALDI (SIGIR 2023) as a peer recommender: its loss and its students on a tiny graph."""
import numpy as np
import pytest
import torch

from eval_fixtures import clustered_export
from kgrec.gnn.aldi import ALDI, Weights, aldi_loss
from kgrec.gnn.evaluate import training_export
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.recommender import TrainData, TrainSettings, UserQuery
from kgrec.gnn.splits import make_split


def test_loss_is_near_zero_when_the_students_copy_a_confident_teacher():
    user = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    pos = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    neg = torch.tensor([[-3.0, 0.0], [0.0, -3.0]])
    copied = aldi_loss(user, pos, neg, user, pos, neg, Weights())
    # BCE(x, sigmoid(x)) is the entropy of sigmoid(x): tiny at x = 18
    assert copied.item() < 1e-3
    # a student with the right ranking but twice the teacher's scale pays the rating term
    doubled = aldi_loss(user, pos, neg, 2 * user, pos, neg, Weights())
    assert doubled.item() > copied.item() + Weights().gamma * 18
    # with no alignment weights it is the plain BPR term on the students: swapped items,
    # s+ - s- = -18, loss softplus(18)
    plain = aldi_loss(user, pos, neg, user, neg, pos, Weights(0.0, 0.0, 0.0))
    assert plain.item() == pytest.approx(torch.nn.functional.softplus(torch.tensor(18.0)).item(), rel=1e-4)


def test_students_rank_cold_items_from_their_text_and_warm_items_by_the_teacher():
    export, group = clustered_export(n_users=80, n_items=40, clusters=4, per_user=8)
    split = make_split(export, "aldi", 0)
    text = np.eye(4, dtype=np.float32)[group] + np.random.default_rng(0).normal(scale=0.05, size=(40, 4)).astype(np.float32)
    data = TrainData(training_export(export, split.train), split.train, split.valid, text, np.zeros((2, 4), np.float32))
    rec = ALDI()
    settings = TrainSettings(dim=16, layers=2, epochs=30, lr=0.01, batch_size=128, patience=30, seed=0)
    rec.fit(data, settings)
    assert len(rec.history) == 30
    assert rec.best_valid_ndcg == pytest.approx(max(h["valid_ndcg@20"] for h in rec.history))
    seen = np.hstack([split.train, split.valid])
    cold_test = split.test[:, np.isin(split.test[1], split.cold_items)]
    score = lambda users: rec.score([UserQuery(user=int(u)) for u in users])  # noqa: E731
    among_cold = full_ranking(score, cold_test, seen, k=2, candidates=split.cold_items)
    # 8 cold items, 2 of each cluster: chance Recall@2 is about 0.25, the text gives the cluster
    assert among_cold["recall@2"] > 0.6
    users = torch.arange(5)
    warm = rec.warm.numpy()
    teacher = rec.teacher.user_emb[users] @ rec.teacher.item_emb.T
    assert torch.allclose(score(users)[:, warm], teacher[:, warm])
    assert not torch.allclose(score(users)[:, ~warm], teacher[:, ~warm])
    # nothing known about the user: popularity
    assert torch.equal(rec.score([UserQuery()])[0], rec.teacher.counts)
