"""The baselines on tiny synthetic graphs."""
import numpy as np
import pytest
import torch
from torch_geometric.nn.models import LightGCN

from eval_fixtures import clustered_export, make_export
from kgrec.gnn.baselines import LightGCNBaseline, MostPopular, TextKNN, normalized_adjacency, propagate, sample_negatives
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.splits import make_split

FAST = TrainSettings(dim=16, layers=2, epochs=25, lr=0.05, batch_size=256, patience=25, seed=0)


def train_data(export, train, valid=None, item_text=None):
    n_items = len(export.nodes["Item"])
    item_text = np.eye(n_items, 8, dtype=np.float32) if item_text is None else item_text
    valid = np.empty((2, 0), np.int64) if valid is None else valid
    return TrainData(export, np.asarray(train), np.asarray(valid), item_text, np.zeros((2, item_text.shape[1]), np.float32))


def test_all_implement_the_interface():
    for cls in (MostPopular, TextKNN, LightGCNBaseline):
        assert issubclass(cls, Recommender) and isinstance(cls.name, str)


def test_most_popular_ranks_by_training_count():
    # item 2: 3 users, item 0: 2 users, item 1: 1 user, item 3: none
    train = np.array([[0, 1, 2, 0, 1, 2], [2, 2, 2, 0, 0, 1]])
    export = make_export(train, n_users=3, n_items=4)
    rec = MostPopular()
    rec.fit(train_data(export, train), FAST)
    scores = rec.score([UserQuery(user=0), UserQuery(liked=(3,))])
    assert scores.shape == (2, 4)
    assert scores[0].argsort(descending=True).tolist() == [2, 0, 1, 3]
    assert torch.equal(scores[0], scores[1])


def test_text_knn_ranks_the_textually_closest_item_first():
    # items 0/1 and 2/3 are near-duplicates in text; user 0 liked item 0
    text = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1], [0, 0, 1]], np.float32)
    train = np.array([[0, 1], [0, 2]])
    export = make_export(train, n_users=2, n_items=5)
    rec = TextKNN()
    rec.fit(train_data(export, train, item_text=text), FAST)
    scores = rec.score([UserQuery(user=0), UserQuery(user=1), UserQuery(liked=(4,)), UserQuery(text=np.array([0, 0.2, 1], np.float32))])
    masked = scores.clone()
    masked[0, 0] = masked[1, 2] = masked[2, 4] = float("-inf")  # their own items
    assert masked[0].argmax() == 1
    assert masked[1].argmax() == 3
    assert masked[2].argmax() == 3  # item 3 has a little of item 4's direction
    assert scores[3].argmax() == 4


def test_text_knn_falls_back_to_popularity_without_items_or_text():
    train = np.array([[0, 1, 1], [1, 1, 0]])
    export = make_export(train, n_users=2, n_items=3)
    rec = TextKNN()
    rec.fit(train_data(export, train), FAST)
    scores = rec.score([UserQuery(attributes=(0,)), UserQuery()])
    assert scores[0].argsort(descending=True).tolist()[:2] == [1, 0]
    assert torch.equal(scores[0], scores[1])


def test_propagate_matches_pyg_lightgcn():
    train = np.array([[0, 0, 1, 2, 2], [0, 1, 1, 2, 0]])
    torch.manual_seed(0)
    model = LightGCN(3 + 3, 4, 2, normalize=False)
    reference = LightGCN(3 + 3, 4, 2)
    reference.load_state_dict(model.state_dict())
    u, i = torch.as_tensor(train[0]), torch.as_tensor(train[1]) + 3
    edge_index = torch.stack([torch.cat([u, i]), torch.cat([i, u])])
    expected = reference.get_embedding(edge_index)
    got = propagate(model, normalized_adjacency(train, 3, 3))
    assert torch.allclose(got, expected, atol=1e-6)


def test_negatives_are_never_training_items():
    users = np.repeat(np.arange(5), 3)
    items = np.tile(np.arange(3), 5)
    seen = np.unique(users * 4 + items)
    negatives = sample_negatives(users, seen, 4, np.random.default_rng(0))
    assert (negatives == 3).all()


def test_lightgcn_learns_and_beats_random_on_clustered_graph():
    export, item_group = clustered_export(n_users=60, n_items=40, clusters=4, per_user=8)
    split = make_split(export, "warm", 0)
    data = train_data(export, split.train, split.valid, item_text=np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32))
    rec = LightGCNBaseline()
    rec.fit(data, FAST)
    losses = [h["loss"] for h in rec.history]
    assert losses[-1] < 0.5 * losses[0]
    seen = np.hstack([split.train, split.valid])
    result = full_ranking(lambda users: rec.score([UserQuery(user=int(u)) for u in users]), split.test, seen, k=5)
    # chance: 5 of the ~32 unseen items -> Recall@5 about 0.16; in-cluster it is far higher
    assert result["recall@5"] > 0.5

    # a new user folded in from two items of cluster 1 gets cluster-1 items on top
    liked = tuple(np.flatnonzero(item_group == 1)[:2].tolist())
    top = rec.score([UserQuery(liked=liked)])[0].argsort(descending=True)[:5]
    assert (item_group[top.numpy()] == 1).mean() >= 0.8


def test_lightgcn_early_stopping_keeps_the_best_epochs_weights():
    export, _ = clustered_export(n_users=40, n_items=30, clusters=2, per_user=12, seed=1)
    split = make_split(export, "warm", 1)
    data = train_data(export, split.train, split.valid)
    rec = LightGCNBaseline()
    rec.fit(data, TrainSettings(dim=8, layers=1, epochs=50, lr=0.05, batch_size=128, patience=2))
    valid = [h["valid_ndcg@20"] for h in rec.history]
    assert len(valid) < 50, "patience 2 stops it early"
    assert rec.best_valid_ndcg == pytest.approx(max(valid))
    assert valid[-1] < max(valid), "the last epoch is worse than the best one"
    again = full_ranking(lambda users: rec.score([UserQuery(user=int(u)) for u in users]), data.valid, data.train)
    assert again["ndcg@20"] == pytest.approx(max(valid), abs=1e-6)


def test_lightgcn_trains_with_exactly_the_settings_given():
    export, _ = clustered_export(n_users=20, n_items=10, clusters=2, per_user=4)
    split = make_split(export, "warm", 0)
    rec = LightGCNBaseline()
    given = TrainSettings(dim=8, layers=1, epochs=2, seed=4)
    rec.fit(train_data(export, split.train, split.valid), given)
    assert rec.settings == given
    defaults = LightGCNBaseline.default_settings()
    assert (defaults.lr, defaults.batch_size) == (0.02, 8192)
    assert (defaults.dim, defaults.epochs) == (TrainSettings().dim, TrainSettings().epochs)
