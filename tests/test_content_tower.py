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


def test_items_without_graph_edges_use_the_text_tower():
    torch.manual_seed(0)
    text, view = torch.randn(100, 5), torch.randn(100, 3)
    target = torch.cat([text[:, :2], view[:, :1]], 1)  # the graph view carries one dimension
    tower, graph_oof, text_oof = fit_tower(text, view, target, torch.arange(100) % 5)
    has_edges = torch.tensor([True, False])
    out = tower.predict(text[:2], view[:2], has_edges)
    assert torch.allclose(out[0], target[0], atol=0.1)
    assert torch.allclose(out[1], tower.text.predict(text[1:2])[0])
    assert (graph_oof - target).pow(2).mean() < (text_oof - target).pow(2).mean()
