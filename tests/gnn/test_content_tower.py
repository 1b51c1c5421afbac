"""The content tower's kinds (ridge, soft kNN, ridge plus its residuals' kNN) against
explicit solutions, and the choice between them by the caller's ranking score on
out-of-fold predictions."""
import torch

from kgrec.gnn.content_tower import (
    ALPHAS,
    ContentTower,
    RidgeWithNeighbours,
    SoftKNN,
    fit_ridge,
    fit_tower,
    knn_out_of_fold,
    ridge_out_of_fold,
    soft_knn,
)


def test_ridge_matches_the_normal_equations_with_an_unpenalised_bias():
    torch.manual_seed(0)
    x, y = torch.randn(50, 4), torch.randn(50, 3)
    xb = torch.cat([x, torch.ones(50, 1)], 1).double()
    penalty = torch.diag(torch.tensor([2.0, 2.0, 2.0, 2.0, 0.0], dtype=torch.float64))
    expected = torch.linalg.solve(xb.T @ xb + penalty, xb.T @ y.double())
    assert torch.allclose(fit_ridge(x, y, 2.0).weight.double(), expected, atol=1e-5)


def test_ridge_out_of_fold_predicts_each_fold_from_the_others():
    torch.manual_seed(0)
    x, y = torch.randn(60, 3), torch.randn(60, 2)
    folds = torch.arange(60) % 3
    predicted = ridge_out_of_fold(x, y, folds, alphas=(1.0,))[1.0]
    held = folds == 1
    assert torch.allclose(predicted[held], fit_ridge(x[~held], y[~held], 1.0).predict(x[held]), atol=1e-5)


def test_soft_knn_is_the_softmax_weighted_mean_of_the_closest_values():
    keys = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]), dim=1)
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    query = torch.tensor([[1.0, 0.0]])
    out = soft_knn(query, keys, values, k=2, temperature=0.1)
    w = torch.softmax(torch.tensor([1.0, 0.8]) / 0.1, 0)  # the third key (cosine 0) is not among the 2 closest
    assert torch.allclose(out, (w[0] * values[0] + w[1] * values[1]).unsqueeze(0), atol=1e-6)
    # SoftKNN normalises its input: a scaled query gives the same prediction
    assert torch.allclose(SoftKNN(keys, values, 2, 0.1).predict(3 * query), out, atol=1e-6)


def test_knn_out_of_fold_never_uses_the_items_own_fold():
    text = torch.eye(4)[[0, 0, 1, 1]] + 0.01 * torch.arange(4).unsqueeze(1)  # items 0, 1 and 2, 3 are twins
    target = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    folds = torch.tensor([0, 1, 0, 1])
    predicted = knn_out_of_fold(text, target, folds, k=1, temperature=0.1)
    assert predicted.flatten().tolist() == [2.0, 1.0, 4.0, 3.0]  # each from its twin in the other fold


def test_fit_tower_keeps_the_candidate_the_score_prefers_and_restores_from_its_state():
    torch.manual_seed(0)
    text = torch.randn(100, 5)
    target = text[:, :3] * 2.0
    folds = torch.arange(100) % 5
    # a score that rewards out-of-fold accuracy: the linear target is the ridge's
    tower, out_of_fold = fit_tower(text, target, folds, lambda p: -float((p - target).pow(2).sum()))
    # the least-penalised ridge, its shrinkage corrected by its neighbours' residuals
    assert isinstance(tower.model, RidgeWithNeighbours) and tower.model.ridge.alpha == min(ALPHAS)
    assert torch.allclose(tower.predict(text[:2]), target[:2], atol=0.1)
    assert torch.allclose(out_of_fold, target, atol=0.2)
    assert float((out_of_fold - target).pow(2).sum()) < float((ridge_out_of_fold(text, target, folds)[min(ALPHAS)]
                                                               - target).pow(2).sum())
    restored = ContentTower.from_state(tower.state())
    assert torch.equal(restored.predict(text), tower.predict(text))
    ridge = fit_ridge(text, target, 1.0)
    assert torch.equal(ContentTower.from_state(ContentTower(ridge).state()).predict(text), ridge.predict(text))
    saved_before = {"tower.text": ridge.weight, "tower.alpha": torch.tensor(ridge.alpha)}
    assert torch.equal(ContentTower.from_state(saved_before).predict(text), ridge.predict(text))
    # near-duplicate texts with unrelated targets: only a neighbour recovers them
    text = torch.randn(100, 32)  # random 32-d texts are far apart (cosines ~0.2), twins close
    twins = torch.cat([text, text + 0.001])
    noise = torch.randn(100, 3)
    values = torch.cat([noise, noise])
    tower, _ = fit_tower(twins, values, torch.cat([folds, (folds + 1) % 5]), lambda p: -float((p - values).pow(2).sum()))
    assert isinstance(tower.model, SoftKNN) and tower.model.temperature <= 0.1
    restored = ContentTower.from_state(tower.state())
    assert torch.allclose(restored.predict(text[:3]), noise[:3], atol=0.05)
