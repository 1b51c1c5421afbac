"""Matching texts to the catalog's items by their text embeddings: a free-text description
to the items it names (a new user's words), and a new item to the warm items it resembles
(its *neighbour* item–item score, :mod:`kgrec.gnn.cold_start`).

Each match is a soft one: the :data:`NEIGHBOURS` items of highest cosine similarity,
weighted by a softmax of that similarity at temperature :data:`TEMPERATURE`.
"""
from __future__ import annotations

import torch
from torch import Tensor

NEIGHBOURS = 10
"""Items a text is matched to."""
TEMPERATURE = 0.05
"""Softmax temperature over their cosine similarities: a title named in the text (cosine
~0.6) outweighs a loosely related item (~0.4) by e^4."""
CHUNK = 1024
"""Texts matched at once (their similarity rows are ``CHUNK x items``)."""


def nearest(texts: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    """``(n, k)`` the rows of ``items`` ``(M, T)`` nearest each of ``texts`` ``(n, T)`` by
    cosine similarity, and ``(n, k)`` their weights (each row sums to 1); ``k`` is
    :data:`NEIGHBOURS`, or ``M`` when fewer."""
    k = min(NEIGHBOURS, items.size(0))
    unit_items = torch.nn.functional.normalize(items.float(), dim=1)
    rows, weights = [], []
    for start in range(0, texts.size(0), CHUNK):
        similarity = torch.nn.functional.normalize(texts[start:start + CHUNK].float(), dim=1) @ unit_items.T
        top = similarity.topk(k, dim=1)
        rows.append(top.indices)
        weights.append(torch.softmax(top.values / TEMPERATURE, dim=1))
    if not rows:
        return (torch.zeros(0, k, dtype=torch.long, device=items.device),
                torch.zeros(0, k, device=items.device))
    return torch.cat(rows), torch.cat(weights)


def weighted_columns(scores: Tensor, rows: Tensor, weights: Tensor) -> Tensor:
    """``(Q, n)``: for each of ``n`` matches, the ``weights``-weighted sum of the columns
    ``rows`` ``(n, k)`` of ``scores`` ``(Q, M)``, as one sparse product."""
    n, k = rows.shape
    matrix = torch.sparse_coo_tensor(
        torch.stack([torch.arange(n, device=rows.device).repeat_interleave(k), rows.reshape(-1)]),
        weights.reshape(-1).to(scores.dtype), (n, scores.size(1)), check_invariants=False)
    return torch.sparse.mm(matrix, scores.T).T
