"""The sparse products of both GNNs (the model and the LightGCN baseline): a constant,
symmetric, normalised CSR adjacency, and training's propagation over it."""
from __future__ import annotations

import warnings

import torch
from torch import Tensor


class PropagatedMean(torch.autograd.Function):
    r"""``(A, x, L) ->`` :math:`\frac{1}{L+1}\sum_{l=0}^{L} A^l x` for a constant symmetric
    sparse ``A``: LightGCN's final embeddings without keeping its layers.

    The backward pass is the same sum applied to the gradient, :math:`\frac{1}{L+1}
    \sum_l A^l g`, by Horner's rule (``h = A h + g``, ``L`` times): ``L`` sparse products and
    nothing else. Autograd through the layers would also build torch's sparse transpose
    on every call, and zero-fill and copy a whole ``(N, d)`` gradient for every slice
    taken of every layer; on the 10M catalog those fills and copies cost as much as the
    sparse products themselves."""

    @staticmethod
    def forward(ctx, adjacency: Tensor, x: Tensor, layers: int) -> Tensor:  # type: ignore[override]
        ctx.adjacency, ctx.layers = adjacency, layers
        total, h = x.clone(), x
        for _ in range(layers):
            h = spmm(adjacency, h)
            total.add_(h)
        return total.div_(layers + 1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor, None]:  # type: ignore[override]
        grad = grad.contiguous()
        h = grad
        for _ in range(ctx.layers):
            h = spmm(ctx.adjacency, h).add_(grad)
        return None, h / (ctx.layers + 1), None


def propagated_mean(adjacency: Tensor, x: Tensor, layers: int) -> Tensor:
    """The mean of ``x, A x, ..., A^layers x`` (float32), with the cheap backward of
    :class:`PropagatedMean`."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        return PropagatedMean.apply(adjacency, x.float(), layers)


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
    return _csr(crow, src, edge_weight.float(), (num_nodes, num_nodes))


def spmm(adjacency: Tensor, x: Tensor) -> Tensor:
    """``adjacency @ x`` for a sparse CSR ``adjacency`` ``(N, M)`` and a dense ``x``
    ``(M, d)``; on the CPU (and without autograd) in two row blocks of equal nnz, each
    written into its rows of one output.

    The same numbers as ``torch.sparse.mm``, faster: on two cores torch's (MKL's) product
    of the 10M catalog's whole adjacency (26M nnz, d = 64) took 529 ms, of its two halves
    378 ms."""
    n = adjacency.size(0)
    if x.device.type != "cpu" or n < SPLIT_MIN_ROWS or (x.requires_grad and torch.is_grad_enabled()):
        return torch.sparse.mm(adjacency, x)
    crow, col, val = adjacency.crow_indices(), adjacency.col_indices(), adjacency.values()
    middle = int(torch.searchsorted(crow, crow[-1] // 2))
    out = x.new_empty(n, x.size(1))
    for first, last in ((0, middle), (middle, n)):
        if first == last:
            continue
        rows = crow[first : last + 1]
        start, stop = int(rows[0]), int(rows[-1])
        block = _csr(rows - start, col[start:stop], val[start:stop], (last - first, adjacency.size(1)))
        torch.mm(block, x, out=out[first:last])
    return out


SPLIT_MIN_ROWS = 65_536
"""Below this many rows :func:`spmm` is one product: the halves' gain grows with the rows
(2M nnz over 110k rows: 18.9 -> 15.6 ms; over ml-1m's 10k rows: 4.0 -> 4.2 ms, a loss)."""


def _csr(crow: Tensor, col: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": it does what we need
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)


def row_pointers(dst: Tensor, num_nodes: int) -> Tensor:
    """``(N + 1,)``: where each node's run of edges starts in a target-sorted edge list."""
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=dst.device)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=num_nodes), 0)
    return crow


def sorted_by_target(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``edge_index`` ``(2, E)`` reordered by target, then source."""
    return edge_index[:, torch.argsort(edge_index[1] * num_nodes + edge_index[0])]
