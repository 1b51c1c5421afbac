"""The one sparse product: CSR from a target-sorted edge list, the cheap symmetric backward,
and the LightGCN baseline's adjacency normalised as the model's."""
import numpy as np
import torch

from kgrec.gnn.baselines import normalized_adjacency
from kgrec.gnn.graph_tensors import symmetric_norm
from kgrec.gnn.sparse import csr_adjacency, sorted_by_target, symmetric_spmm


def _graph() -> tuple[torch.Tensor, torch.Tensor, int]:
    pairs = torch.tensor([[0, 1], [0, 3], [1, 2], [2, 3]])
    edge_index = torch.cat([pairs.T, pairs.T.flip(0)], dim=1)
    edge_index = sorted_by_target(edge_index, 4)
    weight, _ = symmetric_norm(edge_index, 4)
    return edge_index, weight, 4


def test_product_and_gradient_match_the_dense_matrix() -> None:
    edge_index, weight, n = _graph()
    dense = torch.zeros(n, n)
    dense[edge_index[1], edge_index[0]] = weight
    assert torch.allclose(dense, dense.T)
    x = torch.randn(n, 3, requires_grad=True)
    out = symmetric_spmm(csr_adjacency(edge_index, weight, n), x)
    assert torch.allclose(out, dense @ x, atol=1e-6)
    out.square().sum().backward()
    expected = torch.autograd.grad((dense @ x).square().sum(), x)[0]
    assert torch.allclose(x.grad, expected, atol=1e-5)


def test_lightgcn_adjacency_is_the_models_normalisation() -> None:
    train = np.array([[0, 0, 1], [0, 1, 1]])
    adjacency = normalized_adjacency(train, 2, 2).to_dense()
    degree = torch.tensor([2.0, 1.0, 1.0, 2.0])
    expected = torch.zeros(4, 4)
    for u, i in train.T:
        expected[u, i + 2] = expected[i + 2, u] = 1 / torch.sqrt(degree[u] * degree[i + 2])
    assert torch.allclose(adjacency, expected)
