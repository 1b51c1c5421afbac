"""The blend of GNN and item-item scores: standardisation, new items' alignment, exploration."""
from dataclasses import replace

import numpy as np
import torch

from kgrec.gnn.fusion import EXPLORATION_SPREAD, EXPLORATIONS, Alignment, Fusion, fit_fusion, hit_rates, standardise


def _noise(rng: np.random.Generator, n_users: int, n_items: int) -> torch.Tensor:
    return torch.as_tensor(rng.normal(size=(n_users, n_items)), dtype=torch.float32)


def test_standardise_uses_the_warm_columns_only():
    scores = torch.tensor([[1.0, 2.0, 3.0, 100.0], [5.0, 5.0, 5.0, 1.0]])
    warm = torch.tensor([True, True, True, False])
    out = standardise(scores, warm)
    assert torch.allclose(out[0, :3], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.isclose(out[0, 3], torch.tensor(98.0))
    assert torch.equal(out[1], torch.zeros(4))  # no spread among the warm items: no information


def test_exploration_lifts_new_items_and_leaves_warm_order_alone():
    gnn = torch.tensor([[3.0, 2.0, 1.0, 0.0, 2.5]])
    item_item = torch.tensor([[0.0, 1.0, 0.5, 0.2, 0.0]])
    warm = torch.tensor([True, True, True, True, False])
    fusion = Fusion(mix=0.5, graph=Alignment(0.8, -0.5, 0.4), text=Alignment(0.8, -0.5, 0.4), exploration=0.0)
    low, default, high = fusion.combine(gnn, item_item, warm, 0.0), fusion.combine(gnn, item_item, warm), fusion.combine(gnn, item_item, warm, 1.0)
    assert torch.equal(low, default)  # the model's default is 0 here
    assert torch.equal(low[0, :4].argsort(), high[0, :4].argsort())
    assert torch.isclose(high[0, 4] - low[0, 4], torch.tensor(EXPLORATION_SPREAD * 0.4))
    z_new = (2.5 - gnn[0, :4].mean()) / gnn[0, :4].std()
    assert torch.isclose(low[0, 4], 0.8 * z_new - 0.5)
    assert (high[0, 4] > low[0, :4]).sum() > (low[0, 4] > low[0, :4]).sum()


def test_fit_prefers_the_component_that_ranks_validation_items():
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 40
    valid = np.array([np.arange(n_users), rng.integers(0, n_items, n_users)])
    train = np.array([np.arange(n_users), (valid[1] + 1) % n_items])
    noise = torch.as_tensor(rng.normal(size=(n_users, n_items)), dtype=torch.float32)
    oracle = torch.zeros(n_users, n_items)
    oracle[valid[0], valid[1]] = 5.0
    warm = torch.ones(n_items, dtype=torch.bool)
    folds = torch.arange(n_items) % 5
    unrelated = torch.as_tensor(rng.normal(size=(n_users, n_items)), dtype=torch.float32)
    fusion = fit_fusion(gnn=noise, item_item=oracle + 0.01 * noise, pseudo_cold_gnn=unrelated, tower_gnn=unrelated,
                        neighbour_item_item=torch.zeros(n_users, n_items),
                        text_only=torch.zeros(n_items, dtype=torch.bool), folds=folds, warm=warm,
                        users=np.arange(n_users), train=train, valid=valid)
    assert fusion.mix >= 0.3  # the smallest weight at which the oracle wins every list
    # the tower's scores are unrelated to the items' final ones: a new item's expected
    # place is the middle of the list
    for align in (fusion.graph, fusion.text):
        assert abs(align.slope) < 0.2 and abs(align.bias) < 0.2 and 0.9 < align.spread < 1.1
    assert fusion.exploration in EXPLORATIONS


def test_each_kind_of_new_item_is_aligned_on_its_own():
    """New items with graph edges and text-only ones are embedded on different scales (the
    GNN's propagation, the content tower): each kind gets its own line, so that one kind
    does not crowd the other out of every list."""
    rng = np.random.default_rng(1)
    n_users, n_items = 40, 60
    valid = np.array([np.arange(n_users), rng.integers(0, n_items, n_users)])
    train = np.array([np.arange(n_users), (valid[1] + 7) % n_items])
    gnn = torch.as_tensor(rng.normal(size=(n_users, n_items)), dtype=torch.float32)
    gnn[valid[0], valid[1]] += 3.0  # the GNN ranks the validation items: it is chosen over item-item noise
    warm = torch.ones(n_items, dtype=torch.bool)
    folds = torch.arange(n_items) % 5
    # As new items, those with edges keep the signal at a quarter of the scale; the tower's
    # guess keeps it at full scale plus noise.
    cold_view = 0.25 * gnn
    tower = gnn + 0.5 * torch.as_tensor(rng.normal(size=(n_users, n_items)), dtype=torch.float32)
    text_only = torch.arange(n_items) % 2 == 0
    fusion = fit_fusion(gnn=gnn, item_item=_noise(rng, n_users, n_items), pseudo_cold_gnn=torch.where(text_only, tower, cold_view),
                        tower_gnn=tower, neighbour_item_item=_noise(rng, n_users, n_items), text_only=text_only, folds=folds,
                        warm=warm, users=np.arange(n_users), train=train, valid=valid)
    assert fusion.graph.mix == fusion.text.mix == 0.0  # the neighbours' scores are noise: left out
    assert fusion.graph.slope > 2.5 * fusion.text.slope > 0  # a quarter of the scale needs about four times the slope
    assert fusion.graph.spread < fusion.text.spread  # the cold views are exact here, the tower is noisy
    restored = Fusion.from_state(fusion.state())
    assert restored == fusion
    # In one list, each kind lands by its own line.
    scores = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5, 2.0]])
    warm6 = torch.tensor([True, True, True, True, False, False])
    kinds = torch.tensor([False, False, False, False, False, True])
    out = fusion.combine(scores, torch.zeros_like(scores), warm6, 0.0, kinds)
    z = standardise(scores, warm6)
    assert torch.isclose(out[0, 4], fusion.graph.slope * z[0, 4] + fusion.graph.bias)
    assert torch.isclose(out[0, 5], fusion.text.slope * z[0, 5] + fusion.text.bias)


def test_new_items_take_their_text_neighbours_item_item_scores_where_those_rank_them():
    """When the item-item scores of a new item's text neighbours rank the validation items
    and its GNN score as a new item does not, both kinds of new item lean on the
    neighbours, and a new item's score follows its neighbour score."""
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 60
    valid = np.array([np.arange(n_users), rng.integers(0, n_items, n_users)])
    train = np.array([np.arange(n_users), (valid[1] + 7) % n_items])
    signal = torch.zeros(n_users, n_items)
    signal[valid[0], valid[1]] = 3.0
    gnn = _noise(rng, n_users, n_items) + signal
    unrelated = _noise(rng, n_users, n_items)
    text_only = torch.arange(n_items) % 2 == 0
    fusion = fit_fusion(gnn=gnn, item_item=_noise(rng, n_users, n_items) + signal, pseudo_cold_gnn=unrelated, tower_gnn=unrelated,
                        neighbour_item_item=_noise(rng, n_users, n_items) + signal, text_only=text_only, folds=torch.arange(n_items) % 5,
                        warm=torch.ones(n_items, dtype=torch.bool), users=np.arange(n_users), train=train, valid=valid)
    assert fusion.graph.mix > 0 and fusion.text.mix > 0
    scores = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5, 0.5]])
    item_item = torch.tensor([[0.0, 1.0, 2.0, 3.0, 0.0, 3.0]])
    warm6 = torch.tensor([True, True, True, True, False, False])
    out = fusion.combine(scores, item_item, warm6, 0.0, torch.tensor([False] * 5 + [True]))
    lone = fusion.combine(scores, item_item, warm6, 0.0, torch.ones(6, dtype=torch.bool))
    assert out[0, 5] == lone[0, 5] > lone[0, 4]  # the same GNN score, the better neighbours


def test_hit_rate_calibration_places_new_items_where_warm_ones_are_as_likely_wanted():
    """A new item's score that says as much about relevance as a warm item's, on a quarter
    of the scale, is mapped to about four times itself; the line regresses it towards the
    middle instead, because the two scores of one item are only loosely related."""
    rng = np.random.default_rng(2)
    n = 200_000
    y = torch.as_tensor(rng.normal(size=n))
    y_hits = torch.as_tensor(rng.random(n) < 1 / (1 + np.exp(-(3 * y.numpy() - 6))))
    x = torch.as_tensor(rng.normal(size=n)) / 4
    x_hits = torch.as_tensor(rng.random(n) < 1 / (1 + np.exp(-(12 * x.numpy() - 6))))
    line = Alignment(slope=0.4, bias=0.0, spread=0.9)
    calibrated = line.calibrated(x, x_hits, hit_rates(y, y_hits))
    probe = torch.tensor([0.25, 0.5, 0.625])
    placed = calibrated.place(probe)
    assert torch.allclose(placed, 4 * probe, atol=0.25), placed
    assert (placed > line.place(probe)).all()
    # Increasing everywhere, continued beyond the knots with the line's slope.
    grid = torch.linspace(-3.0, 3.0, 601, dtype=torch.float64)
    assert (calibrated.place(grid).diff() > 0).all()
    top = calibrated.knots[0, -1]
    assert torch.isclose(calibrated.place(top + 1.0) - calibrated.place(top), torch.tensor(0.4, dtype=torch.float64))
    assert (calibrated.spread, calibrated.slope) == (line.spread, line.slope)
    fusion = Fusion(mix=0.1, graph=calibrated, text=replace(line, mix=0.5), exploration=0.2)
    restored = Fusion.from_state(fusion.state())
    assert restored == fusion and restored.graph.knots is not None and restored.text.knots is None
    assert restored != Fusion(mix=0.1, graph=line, text=line, exploration=0.2)
