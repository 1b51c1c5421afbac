"""The one sparse product of both GNNs (the model and the LightGCN baseline): a constant,
symmetric, normalised adjacency times a dense embedding table."""
from __future__ import annotations

import warnings

import torch
from torch import Tensor


class SymmetricSpMM(torch.autograd.Function):
    """``A @ x`` for a constant symmetric sparse ``A``: the backward pass is ``A @ grad``,
    which saves the sparse transpose that torch's generic sparse backward builds every
    call."""

    @staticmethod
    def forward(ctx, adjacency: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adjacency = adjacency
        return torch.sparse.mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adjacency, grad.contiguous())


def symmetric_spmm(adjacency: Tensor, x: Tensor) -> Tensor:
    """``adjacency @ x`` with the cheap backward of :class:`SymmetricSpMM`."""
    return SymmetricSpMM.apply(adjacency, x)


def csr_adjacency(edge_index: Tensor, edge_weight: Tensor, num_nodes: int, crow: Tensor | None = None) -> Tensor:
    """The weighted adjacency as a sparse CSR ``(N, N)`` tensor, row = target.

    ``edge_index`` must be sorted by target then source (as
    :func:`kgrec.gnn.graph_tensors.build_propagation_graph` and :func:`sorted_by_target` leave
    it), so the CSR arrays come straight from it (``crow``, :func:`row_pointers`, when
    the caller has it already). The same product as
    ``torch_geometric.nn.conv.LGConv(normalize=False)`` with ``edge_weight``, several times
    faster on the CPU."""
    src, dst = edge_index
    if crow is None:
        crow = row_pointers(dst, num_nodes)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": it does what we need
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, src, edge_weight.float(), (num_nodes, num_nodes), check_invariants=False)


def row_pointers(dst: Tensor, num_nodes: int) -> Tensor:
    """``(N + 1,)``: where each node's run of edges starts in a target-sorted edge list."""
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=dst.device)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=num_nodes), 0)
    return crow


def sorted_by_target(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``edge_index`` ``(2, E)`` reordered by target, then source."""
    return edge_index[:, torch.argsort(edge_index[1] * num_nodes + edge_index[0])]
