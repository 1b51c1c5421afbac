"""Training losses on embeddings, shared by the model's loop (:mod:`kgrec.gnn.train`) and
LightGCN's (:mod:`kgrec.gnn.baselines`), after PyG's ``BPRLoss``.

Shapes: ``user`` and ``positive`` are ``(B, d)``; ``negative`` is ``(B, K, d)`` (a set per
positive) or ``(K, d)`` (one set shared by the batch). Scores are dot products.
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


def ranking_loss(user: Tensor, positive: Tensor, negative: Tensor, loss: str = "softmax", temperature: float = 1.0,
                 hits: Tensor | None = None) -> Tensor:
    """Mean ``loss`` (``bpr`` or ``softmax``) of each positive against its negatives;
    ``hits`` ``(B, K)`` marks shared negatives that are the positive itself (left out)."""
    user, positive, negative = user.float(), positive.float(), negative.float()
    pos = (user * positive).sum(-1)
    neg = user @ negative.T if negative.dim() == 2 else torch.einsum("bd,bkd->bk", user, negative)
    if hits is not None:
        neg = neg.masked_fill(hits, float("-inf"))
    if loss == "bpr":
        return bpr_loss(pos, neg)
    return sampled_softmax_loss(pos, neg, temperature)


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
