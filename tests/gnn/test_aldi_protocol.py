"""The ``aldi`` protocol (ALDI, SIGIR 2023; LLM-InS): its split and its three views."""
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
import torch

from eval_fixtures import make_export, random_export
from kgrec.gnn.baselines import MostPopular
from kgrec.gnn.evaluate import conditions_for, evaluate, rank
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.splits import Split, interactions, load, make_split, save
from kgrec.kg.graph import GraphExport, RelKey

GENRE = RelKey("IN_GENRE", "Item", "Entity")


def as_set(pairs):
    return set(zip(pairs[0].tolist(), pairs[1].tolist()))


@pytest.fixture(scope="module")
def export():
    return random_export(n_users=200, n_items=100, per_user=20)


def cold_parts(split):
    on_cold_valid = np.isin(split.valid[1], split.cold_items)
    on_cold_test = np.isin(split.test[1], split.cold_items)
    return on_cold_valid, on_cold_test


def test_proportions(export):
    split = make_split(export, "aldi", 0)
    n_items = len(np.unique(interactions(export)[1]))
    assert len(split.cold_items) == round(0.2 * n_items)
    on_cold_valid, on_cold_test = cold_parts(split)
    valid_items = np.unique(split.valid[1, on_cold_valid])
    test_items = np.unique(split.test[1, on_cold_test])
    assert len(valid_items) == len(split.cold_items) // 2  # cold items 1:1, per item
    assert len(test_items) == len(split.cold_items) - len(split.cold_items) // 2
    n_warm = split.train.shape[1] + (~on_cold_valid).sum() + (~on_cold_test).sum()
    assert n_warm == np.isin(interactions(export)[1], split.cold_items, invert=True).sum()
    # dense enough that nothing is moved back: exactly 8:1:1 of the warm pairs
    assert (~on_cold_valid).sum() == (~on_cold_test).sum() == int(0.1 * n_warm)


def test_no_leakage(export):
    split = make_split(export, "aldi", 0)
    train = as_set(split.train)
    assert not train & as_set(split.valid) and not train & as_set(split.test)
    assert not as_set(split.valid) & as_set(split.test)
    assert not np.isin(split.train[1], split.cold_items).any()
    on_cold_valid, on_cold_test = cold_parts(split)
    assert not set(split.valid[1, on_cold_valid].tolist()) & set(split.test[1, on_cold_test].tolist())
    cold_pairs = interactions(export)[:, np.isin(interactions(export)[1], split.cold_items)]
    assert as_set(cold_pairs) == as_set(split.valid[:, on_cold_valid]) | as_set(split.test[:, on_cold_test])


def test_held_out_warm_pairs_have_a_training_user_and_item():
    """ALDI moves a held-out warm pair back to train when its user or item has no
    training pair left; on a sparse graph that happens."""
    sparse = random_export(n_users=300, n_items=200, per_user=2, seed=1)
    split = make_split(sparse, "aldi", 0)
    on_cold_valid, on_cold_test = cold_parts(split)
    for held in (split.valid[:, ~on_cold_valid], split.test[:, ~on_cold_test]):
        assert np.isin(held[0], split.train[0]).all()
        assert np.isin(held[1], split.train[1]).all()
    n_warm = split.train.shape[1] + (~on_cold_valid).sum() + (~on_cold_test).sum()
    assert split.train.shape[1] > 0.8 * n_warm + 1  # some pairs were moved back


def test_seeded_and_round_trips_with_its_manifest(export, tmp_path):
    a, b = make_split(export, "aldi", 5), make_split(export, "aldi", 5)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.cold_items, b.cold_items)
    assert not np.array_equal(a.cold_items, make_split(export, "aldi", 6).cold_items)
    save(a, tmp_path, export)
    manifest = pd.read_json(tmp_path / "split.json", typ="series")
    assert manifest["protocol"] == "aldi" and manifest["aldi"]["cold_split"].startswith("per item")
    back = load(tmp_path, export)
    assert np.array_equal(back.cold_items, a.cold_items)
    for name in ("train", "valid", "test"):
        assert as_set(getattr(back, name)) == as_set(getattr(a, name))


class Recorder(Recommender):
    """Most-popular that keeps what it was given."""

    name = "recorder"
    seen: list[TrainData] = []

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        Recorder.seen.append(data)
        self.inner = MostPopular()
        self.inner.fit(data, settings)

    def score(self, queries: Sequence[UserQuery]) -> torch.Tensor:
        return self.inner.score(queries)


def test_cold_items_keep_their_facts_and_validation_has_the_cold_validation_pairs(export):
    facts = pd.DataFrame({"src": np.arange(100), "dst": np.arange(100) % 2})
    with_facts = GraphExport(nodes=export.nodes, edges={**export.edges, GENRE: facts})
    text = {"Item": np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)}
    Recorder.seen.clear()
    result = evaluate("aldi", with_facts, text, [Recorder], seeds=(0,), k=10)
    assert [r["condition"] for r in result.summary()] == ["aldi/cold", "aldi/warm", "aldi/overall"]
    (data,) = Recorder.seen
    split = make_split(with_facts, "aldi", 0)
    assert np.isin(split.cold_items, data.export.edges[GENRE]["src"]).all()  # facts kept
    seen_pairs = data.export.edge_index(("INTERACTED", "User", "Item"))
    assert not np.isin(seen_pairs[1], split.cold_items).any()
    assert as_set(data.valid) == as_set(split.valid)
    assert np.isin(data.valid[1], split.cold_items).any()  # cold validation items' pairs


class Fixed(Recommender):
    name = "fixed"

    def __init__(self, scores):
        self.scores = torch.tensor(scores)

    def fit(self, data, settings):
        pass

    def score(self, queries):
        return self.scores[[q.user for q in queries]]


def test_three_views_on_a_hand_made_case():
    """Items 0-3 warm, 4 a validation cold item, 5 a test cold item; K = 2."""
    train = np.array([[0, 0, 1, 1, 2], [0, 3, 1, 2, 0]])
    valid = np.array([[0, 1], [1, 4]])
    test = np.array([[0, 0, 1, 1, 2], [2, 5, 3, 5, 1]])
    export = make_export(np.hstack([train, valid, test]), n_users=3, n_items=6)
    split = Split("aldi", 0, train, valid, test, cold_items=np.array([4, 5]))
    scores = [[0.9, 0.8, 0.1, 0.7, 0.6, 0.5],
              [0.1, 0.2, 0.3, 0.4, 0.9, 0.5],
              [0.9, 0.1, 0.8, 0.2, 0.95, 0.3]]
    out = {}
    for condition in conditions_for(split, export):
        out.update(rank(Fixed(scores), condition, k=2))
    d2 = 1 / np.log2(3)
    # cold, among items 4 and 5: user 0 ranks 4 then 5 (hit 2nd); user 1's 4 is masked
    # (its validation item), 5 first; user 2 has no cold test pair
    assert out["aldi/cold"]["users"] == 2
    assert out["aldi/cold"]["recall@2"] == pytest.approx(1.0)
    assert out["aldi/cold"]["ndcg@2"] == pytest.approx((d2 + 1) / 2)
    # warm, among items 0-3: user 0 has only 2 left (hit), user 1 ranks 3, 0 (hit 1st),
    # user 2 ranks 2, 3 (miss); cold item 4 never competes although user 2 scores it top
    assert out["aldi/warm"]["users"] == 3
    assert out["aldi/warm"]["recall@2"] == pytest.approx(2 / 3)
    assert out["aldi/warm"]["ndcg@2"] == pytest.approx(2 / 3)
    # overall, among all items: user 0 ranks 4, 5 (one of two, 2nd), user 1 ranks 5, 3
    # (both), user 2 ranks 4, 2 (miss)
    assert out["aldi/overall"]["users"] == 3
    assert out["aldi/overall"]["recall@2"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert out["aldi/overall"]["ndcg@2"] == pytest.approx((d2 / (1 + d2) + 1 + 0) / 3)
    assert out["aldi/overall"]["cold_share"] == pytest.approx(4 / 6)  # 4, 5 | 5 | 4
