"""Ridge regressions of the content tower against explicit solutions."""
import torch

from gnn.content_tower import choose_ridge, fit_ridge, fit_tower


def test_ridge_matches_the_normal_equations_with_an_unpenalised_bias():
    torch.manual_seed(0)
    x, y = torch.randn(50, 4), torch.randn(50, 3)
    xb = torch.cat([x, torch.ones(50, 1)], 1).double()
    penalty = torch.diag(torch.tensor([2.0, 2.0, 2.0, 2.0, 0.0], dtype=torch.float64))
    expected = torch.linalg.solve(xb.T @ xb + penalty, xb.T @ y.double())
    assert torch.allclose(fit_ridge(x, y, 2.0).weight.double(), expected, atol=1e-5)


def test_choice_is_out_of_fold_and_recovers_a_linear_map():
    torch.manual_seed(0)
    x = torch.randn(200, 6)
    y = x @ torch.randn(6, 2) + 1.0
    ridge, out_of_fold = choose_ridge(x, y, torch.arange(200) % 5, alphas=(0.1, 100.0))
    assert ridge.alpha == 0.1
    assert torch.allclose(out_of_fold, y, atol=0.1)
    assert torch.allclose(ridge.predict(x), y, atol=0.05)


def test_tower_predicts_from_text_with_out_of_fold_estimates():
    torch.manual_seed(0)
    text = torch.randn(100, 5)
    target = text[:, :3] * 2.0
    tower, out_of_fold = fit_tower(text, target, torch.arange(100) % 5)
    assert torch.allclose(tower.predict(text[:2]), target[:2], atol=0.1)
    assert out_of_fold.shape == target.shape and torch.allclose(out_of_fold, target, atol=0.2)
