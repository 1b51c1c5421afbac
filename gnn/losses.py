"""Training losses on embeddings, shared by the model's loop (:mod:`kgrec.gnn.train`) and
LightGCN's (:mod:`kgrec.gnn.baselines`), after PyG's ``BPRLoss``.

Shapes: ``user`` and ``positive`` are ``(B, d)``; the negatives are rows of an item table,
``(B, K)`` indices (a set per positive) or ``(K,)`` (one set shared by the batch). Scores
are dot products.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kgrec.kg.errors import KgrecError

LOSSES = ("bpr", "softmax")


def check_loss(name: str) -> None:
    if name not in LOSSES:
        raise KgrecError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")


def ranking_loss(user: Tensor, positive: Tensor, items: Tensor, negatives: Tensor, loss: str = "softmax",
                 temperature: float = 1.0, hits: Tensor | None = None) -> Tensor:
    """Mean ``loss`` (``bpr`` or ``softmax``) of each positive against its negatives, the
    rows ``negatives`` ``(B, K)`` or ``(K,)`` of the table ``items`` ``(N, d)``; ``hits``
    ``(B, K)`` marks shared negatives that are the positive itself (left out)."""
    user, positive, items = user.float(), positive.float(), items.float()
    pos = (user * positive).sum(-1)
    neg = user @ items.index_select(0, negatives).T if negatives.dim() == 1 else GatheredDot.apply(user, items, negatives)
    if hits is not None:
        neg = neg.masked_fill(hits, float("-inf"))
    if loss == "bpr":
        return bpr_loss(pos, neg)
    return sampled_softmax_loss(pos, neg, temperature)


class GatheredDot(torch.autograd.Function):
    """``(B, d), (N, d), (B, K) -> (B, K)``: each user's dot product with its ``K`` rows of
    the table, :math:`s_{bk} = u_b \cdot t_{i_{bk}}`.

    The same as ``einsum("bd,bkd->bk", user, table[index])``, whose backward pass builds
    the gathered rows' gradient, zero-fills the table's and sorts the indices to scatter
    it back; here the table's gradient is one ``index_add_``. The negatives are the
    largest tensors of a training step (``B·K·d``), so this is about a quarter of a step's
    time on ml-1m."""

    @staticmethod
    def forward(ctx, user: Tensor, table: Tensor, index: Tensor) -> Tensor:  # type: ignore[override]
        rows = table.index_select(0, index.reshape(-1)).view(*index.shape, table.size(1))
        ctx.save_for_backward(user, rows, index)
        ctx.n_rows = table.size(0)
        return torch.bmm(rows, user.unsqueeze(2)).squeeze(2)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None]:  # type: ignore[override]
        user, rows, index = ctx.saved_tensors
        grad_user = torch.bmm(grad.unsqueeze(1), rows).squeeze(1)
        grad_rows = (grad.unsqueeze(2) * user.unsqueeze(1)).reshape(-1, rows.size(2))
        grad_table = rows.new_zeros(ctx.n_rows, rows.size(2)).index_add_(0, index.reshape(-1), grad_rows)
        return grad_user, grad_table, None


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """:math:`-\\log\\sigma(s_{ui} - s_{uj})`, averaged over positives ``(B,)`` and their
    negatives ``(B, K)``."""
    return -F.logsigmoid(pos.unsqueeze(1) - neg).mean()


def sampled_softmax_loss(pos: Tensor, neg: Tensor, temperature: float = 1.0) -> Tensor:
    """:math:`-\\log \\frac{e^{s_{ui}/\\tau}}{e^{s_{ui}/\\tau} + \\sum_j e^{s_{uj}/\\tau}}`,
    averaged over positives ``(B,)`` with negatives ``(B, K)``."""
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.size(0), dtype=torch.long, device=logits.device))


def shared_hits(items: Tensor, negatives: Tensor) -> Tensor | None:
    """``(B, K)``: shared negative ``k`` is positive ``b``'s own item (None for per-positive
    negatives ``(B, K)``)."""
    if negatives.dim() == 2:
        return None
    return items.unsqueeze(1) == negatives.unsqueeze(0)


def squared_norms(x: Tensor) -> Tensor:
    """``(..., d) -> (...)``: :math:`|x|^2` of each row."""
    return x.pow(2).sum(-1)


def l2_penalty(users: Tensor, items: Tensor, negative_norms: Tensor, weight_decay: float) -> Tensor:
    """LightGCN's regulariser on layer-0 inputs: ``weight_decay / 2 * (|x_u|² + |x_i|² +
    mean_k |x_j|²)``, batch mean. ``users`` and ``items`` are ``(B, d)``; ``negative_norms``
    holds the negatives' squared norms, ``(B, K)`` or ``(K,)``: gathered from
    :func:`squared_norms` of the whole table, which saves copying ``B·K`` rows of ``d``
    numbers (and scattering their gradient back), the costliest gather of a step."""
    if weight_decay == 0:
        return users.new_zeros(())
    reg = squared_norms(users) + squared_norms(items) + negative_norms.mean(-1)
    return weight_decay * 0.5 * reg.mean()
