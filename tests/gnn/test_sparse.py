"""The sparse products: CSR from a target-sorted edge list, the product in row blocks,
training's propagated mean and its backward, and the LightGCN baseline's adjacency
normalised as the model's."""
import numpy as np
import pytest
import torch

from kgrec.gnn.baselines import normalized_adjacency
from kgrec.gnn.graph_tensors import symmetric_norm
from kgrec.gnn import sparse
from kgrec.gnn.sparse import csr_adjacency, propagated_mean, sorted_by_target, spmm


def _graph() -> tuple[torch.Tensor, torch.Tensor, int]:
    pairs = torch.tensor([[0, 1], [0, 3], [1, 2], [2, 3]])
    edge_index = torch.cat([pairs.T, pairs.T.flip(0)], dim=1)
    edge_index = sorted_by_target(edge_index, 4)
    weight, _ = symmetric_norm(edge_index, 4)
    return edge_index, weight, 4


def _dense(edge_index: torch.Tensor, weight: torch.Tensor, n: int) -> torch.Tensor:
    dense = torch.zeros(n, n)
    dense[edge_index[1], edge_index[0]] = weight
    return dense


@pytest.mark.parametrize("split_min_rows", [0, 1_000_000])
def test_product_matches_the_dense_matrix_whole_or_in_row_blocks(monkeypatch, split_min_rows: int) -> None:
    monkeypatch.setattr(sparse, "SPLIT_MIN_ROWS", split_min_rows)
    edge_index, weight, n = _graph()
    x = torch.randn(n, 3)
    assert torch.allclose(spmm(csr_adjacency(edge_index, weight, n), x), _dense(edge_index, weight, n) @ x, atol=1e-6)


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_propagated_mean_and_its_gradient_match_autograd_through_the_dense_layers(monkeypatch, layers: int) -> None:
    monkeypatch.setattr(sparse, "SPLIT_MIN_ROWS", 0)  # the row blocks too
    edge_index, weight, n = _graph()
    dense = _dense(edge_index, weight, n)
    assert torch.allclose(dense, dense.T)
    x = torch.randn(n, 3, requires_grad=True)
    out = propagated_mean(csr_adjacency(edge_index, weight, n), x, layers)
    powers, h = [x], x
    for _ in range(layers):
        h = dense @ h
        powers.append(h)
    expected = torch.stack(powers).mean(0)
    assert torch.allclose(out, expected, atol=1e-6)
    probe = torch.randn(n, 3)
    (out * probe).sum().backward()
    assert torch.allclose(x.grad, torch.autograd.grad((expected * probe).sum(), x)[0], atol=1e-5)


def test_lightgcn_adjacency_is_the_models_normalisation() -> None:
    train = np.array([[0, 0, 1], [0, 1, 1]])
    adjacency = normalized_adjacency(train, 2, 2).to_dense()
    degree = torch.tensor([2.0, 1.0, 1.0, 2.0])
    expected = torch.zeros(4, 4)
    for u, i in train.T:
        expected[u, i + 2] = expected[i + 2, u] = 1 / torch.sqrt(degree[u] * degree[i + 2])
    assert torch.allclose(adjacency, expected)
