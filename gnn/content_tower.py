r"""A content tower: items' collaborative embeddings predicted from their text.

A new item with only a title and a description is an isolated node: its propagated
embedding is its text projection divided by :math:`L + 1`, on a quarter of a warm item's
scale and off the region where warm items sit (on ml-100k a text-only new item scored
0.17 for a user who scored random warm items 0.6–0.7). As in DropoutNet, Heater and
CLCRec, a second model learns to reproduce warm items' final embeddings :math:`z_i` from
their text embeddings :math:`t_i`. Two kinds are fitted and the better one on validation
is kept:

- a **soft kNN** (:class:`SoftKNN`): the new item's embedding is the mean of its ``k``
  text-nearest warm items' final embeddings, weighted by a softmax of their cosine
  similarity at temperature :math:`\tau`:

  .. math::

      \hat z_i = \textstyle\sum_{j \in \mathrm{top}_k(i)} w_{ij} z_j, \qquad
      w_{ij} = \mathrm{softmax}_j(\cos(t_i, t_j) / \tau)

  A new item whose text is close to a warm item's (a re-release, a sequel, a variant of a
  product) lands next to it instead of being pulled towards the average item;
- a **ridge** regression (:class:`Ridge`), :math:`\hat z_i = W^\top [t_i;\ 1]` in closed
  form (the bias is not penalised), which generalises across the whole text space but
  shrinks every prediction towards the mean item;
- the best ridge **plus a soft kNN of its residuals** (:class:`RidgeWithNeighbours`),
  :math:`\hat z_i = W^\top [t_i; 1] + \beta \sum_j w_{ij} (z_j - \hat z_j^{\text{oof}})`:
  the ridge's guess, moved by how the text-nearest warm items differ from their own
  guesses, so that a near twin in text pulls the new item towards itself without losing
  the ridge's shrinkage where no neighbour is close.

Each candidate (:data:`ALPHAS`, :data:`NEIGHBOURS` × :data:`TEMPERATURES`, and those times
:data:`RESIDUAL_WEIGHTS` on the best ridge) predicts every
warm item out of fold (from the other folds' items only), and the caller's ``score``
ranks those predictions as a new item would be ranked (:func:`fit_tower`). On ml-100k,
whose item texts are short and alike ("Drama film from 1995": a warm item's nearest text
has cosine 0.71 at the median, with an unrelated collaborative embedding), validation
keeps the ridge (NDCG@20 among the fold 0.157 against 0.150 for the best soft kNN); a
catalog with distinctive texts can pick the kNN (BENCHMARKS.md, issue 10). A new item that has knowledge-graph edges
keeps the GNN's own embedding (:mod:`kgrec.gnn.cold_start`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

log = logging.getLogger(__name__)

ALPHAS = (0.1, 1.0, 10.0, 100.0)
"""The ridge penalties tried (text embeddings are unit vectors)."""
NEIGHBOURS = (10, 20, 50)
"""The soft kNN's ``k`` tried."""
TEMPERATURES = (0.05, 0.1)
""":math:`\\tau` tried: MiniLM cosines of related items differ by 0.05–0.2, so these weigh
the closest items most (on ml-100k 0.02 and 1.0 ranked worse on validation than both)."""
RESIDUAL_WEIGHTS = (0.5, 1.0)
""":math:`\\beta` tried for the neighbours' residuals."""


@dataclass
class Ridge:
    """``predict(x) = [x, 1] @ weight``; ``weight`` ``(F + 1, d)``."""

    weight: Tensor
    alpha: float

    def predict(self, x: Tensor) -> Tensor:
        return _with_bias(x.float()) @ self.weight.to(x.device)

    def __str__(self) -> str:
        return f"ridge (alpha {self.alpha:g})"


@dataclass
class SoftKNN:
    """``predict(x)``: the softmax(cosine / ``temperature``)-weighted mean of the ``values``
    ``(n, d)`` of the ``k`` rows of ``keys`` ``(n, F)`` (unit rows) closest to each row of
    ``x``."""

    keys: Tensor
    values: Tensor
    k: int
    temperature: float

    def predict(self, x: Tensor) -> Tensor:
        return soft_knn(_unit(x), self.keys.to(x.device), self.values.to(x.device), self.k, self.temperature)

    def __str__(self) -> str:
        return f"soft kNN (k {self.k}, temperature {self.temperature:g})"


@dataclass
class RidgeWithNeighbours:
    """``predict(x) = ridge(x) + weight * neighbours(x)``, ``neighbours`` a soft kNN over
    warm items' out-of-fold ridge residuals."""

    ridge: Ridge
    neighbours: SoftKNN
    weight: float

    def predict(self, x: Tensor) -> Tensor:
        return self.ridge.predict(x) + self.weight * self.neighbours.predict(x)

    def __str__(self) -> str:
        return f"{self.ridge} + {self.weight:g} x {self.neighbours} of its residuals"


def soft_knn(queries: Tensor, keys: Tensor, values: Tensor, k: int, temperature: float) -> Tensor:
    """``(q, d)``: for unit ``queries`` ``(q, F)`` and unit ``keys`` ``(n, F)``, the
    softmax(cosine / ``temperature``)-weighted mean of the ``values`` ``(n, d)`` of the
    ``min(k, n)`` closest keys."""
    top = (queries.float() @ keys.float().T).topk(min(k, keys.size(0)), dim=1)
    weights = torch.softmax(top.values / temperature, dim=1)
    return (weights.unsqueeze(2) * values.float()[top.indices]).sum(1)


def fit_ridge(x: Tensor, y: Tensor, alpha: float) -> Ridge:
    """The ridge regression of ``y`` ``(n, d)`` on ``x`` ``(n, F)`` plus a bias (not
    penalised)."""
    return _solve(_moments(x, y), [alpha])[0]


def ridge_out_of_fold(x: Tensor, y: Tensor, folds: Tensor, alphas: Sequence[float] = ALPHAS) -> dict[float, Tensor]:
    """Out-of-fold predictions ``(n, d)`` of the ridge of each of ``alphas`` (row ``i``
    predicted by the ridge fitted without fold ``folds[i]``). The moments are summed once
    per fold and each training part is diagonalised once, so every penalty costs a matrix
    product."""
    parts = {int(f): _moments(x[folds == f], y[folds == f]) for f in torch.unique(folds).tolist()}
    total = tuple(sum(p[k] for p in parts.values()) for k in range(5))
    predicted = {alpha: torch.empty(y.shape, dtype=torch.float32) for alpha in alphas}
    for fold, part in parts.items():
        held = folds == fold
        rest = tuple(t - p for t, p in zip(total, part)) if len(parts) > 1 else total
        for ridge in _solve(rest, alphas):  # type: ignore[arg-type]
            predicted[ridge.alpha][held] = ridge.predict(x[held])
    return predicted


def knn_out_of_fold(x: Tensor, y: Tensor, folds: Tensor, k: int, temperature: float) -> Tensor:
    """Out-of-fold predictions ``(n, d)`` of the soft kNN: row ``i`` from the rows of the
    other folds only (in sample when there is one fold, as :func:`ridge_out_of_fold`)."""
    keys = _unit(x)
    out = torch.empty(y.shape, dtype=torch.float32)
    for fold in torch.unique(folds).tolist():
        held = folds == fold
        pool = ~held if (~held).any() else held
        out[held] = soft_knn(keys[held], keys[pool], y[pool], k, temperature)
    return out


Score = Callable[[Tensor], float]
"""Out-of-fold predictions ``(n, d)`` of the warm items -> how well they rank as new items
(higher is better)."""


@dataclass
class ContentTower:
    """Predicts final item embeddings ``(n, d)`` from text embeddings ``(n, T)`` with the
    model chosen on validation."""

    model: Ridge | SoftKNN | RidgeWithNeighbours

    def predict(self, text: Tensor) -> Tensor:
        return self.model.predict(text)

    def state(self) -> dict[str, Tensor]:
        model = self.model
        if isinstance(model, Ridge):
            return _ridge_state(model)
        if isinstance(model, SoftKNN):
            return _knn_state(model)
        return {**_ridge_state(model.ridge), **_knn_state(model.neighbours),
                "tower.residual_weight": torch.tensor(model.weight, dtype=torch.float64)}

    @classmethod
    def from_state(cls, state: dict[str, Tensor]) -> ContentTower:
        ridge = next((Ridge(state[key], float(state["tower.alpha"])) for key in ("tower.ridge", "tower.text")
                      if key in state), None)  # "tower.text": models saved before the soft kNN
        knn = None
        if "tower.knn" in state:
            k, temperature = state["tower.knn"].tolist()
            knn = SoftKNN(state["tower.keys"], state["tower.values"], int(k), float(temperature))
        if ridge is not None and knn is not None:
            return cls(RidgeWithNeighbours(ridge, knn, float(state["tower.residual_weight"])))
        model = ridge or knn
        if model is None:
            raise KeyError("tower.ridge or tower.knn")
        return cls(model)


def _ridge_state(ridge: Ridge) -> dict[str, Tensor]:
    return {"tower.ridge": ridge.weight, "tower.alpha": torch.tensor(ridge.alpha)}


def _knn_state(knn: SoftKNN) -> dict[str, Tensor]:
    return {"tower.keys": knn.keys, "tower.values": knn.values,
            "tower.knn": torch.tensor([knn.k, knn.temperature], dtype=torch.float64)}


def fit_tower(text: Tensor, target: Tensor, folds: Tensor, score: Score) -> tuple[ContentTower, Tensor]:
    """The tower on warm items (``text`` ``(n, T)``, ``target`` their final embeddings
    ``(n, d)``, ``folds`` ``(n,)``) and its out-of-fold predictions ``(n, d)``: of every
    ridge penalty, soft-kNN setting and residual kNN on the best ridge, the one whose
    out-of-fold predictions ``score`` best (ties: the first tried, ridges first)."""
    candidates: dict[str, tuple[Callable[[], Ridge | SoftKNN | RidgeWithNeighbours], Tensor]] = {}
    ridges = ridge_out_of_fold(text, target, folds)
    for alpha, predicted in ridges.items():
        candidates[f"ridge {alpha:g}"] = ((lambda a=alpha: fit_ridge(text, target, a)), predicted)
    keys = _unit(text)
    for k in NEIGHBOURS:
        for temperature in TEMPERATURES:
            candidates[f"knn {k} {temperature:g}"] = (
                (lambda k=k, t=temperature: SoftKNN(keys, target.float().clone(), k, t)),
                knn_out_of_fold(text, target, folds, k, temperature))
    found = {name: score(predicted) for name, (_, predicted) in candidates.items()}
    alpha = max(ridges, key=lambda a: found[f"ridge {a:g}"])
    residuals = (target.float() - ridges[alpha]).contiguous()
    for k in NEIGHBOURS:
        for temperature in TEMPERATURES:
            moved = knn_out_of_fold(text, residuals, folds, k, temperature)
            for weight in RESIDUAL_WEIGHTS:
                name = f"ridge {alpha:g} + {weight:g} x knn {k} {temperature:g} of residuals"
                candidates[name] = ((lambda k=k, t=temperature, w=weight: RidgeWithNeighbours(
                    fit_ridge(text, target, alpha), SoftKNN(keys, residuals, k, t), w)), ridges[alpha] + weight * moved)
                found[name] = score(candidates[name][1])
    best = max(found, key=lambda name: found[name])  # max keeps the first of equal ones
    log.info("content tower: %s -> %s", {n: round(v, 4) for n, v in found.items()}, best)
    make, predicted = candidates[best]
    return ContentTower(make()), predicted


Moments = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
"""``(n, Σx, Σy, Σxxᵀ, Σxyᵀ)`` in float64: sums, so that parts add up."""


def _moments(x: Tensor, y: Tensor) -> Moments:
    x, y = x.double(), y.double()
    return torch.tensor(float(x.size(0)), dtype=torch.float64), x.sum(0), y.sum(0), x.T @ x, x.T @ y


def _solve(moments: Moments, alphas: Sequence[float]) -> list[Ridge]:
    """Ridges on centred data (so the bias is not penalised), one eigendecomposition for all
    ``alphas``; each as ``weight`` ``(F + 1, d)`` with the bias in the last row."""
    n, sx, sy, sxx, sxy = moments
    mx, my = sx / n, sy / n
    gram = sxx - n * torch.outer(mx, mx)
    cross = sxy - n * torch.outer(mx, my)
    values, vectors = torch.linalg.eigh(gram)
    projected = vectors.T @ cross
    out = []
    for alpha in alphas:
        weight = vectors @ (projected / (values.clamp(min=0) + float(alpha)).unsqueeze(1))
        bias = my - mx @ weight
        out.append(Ridge(torch.cat([weight, bias.unsqueeze(0)]).float(), float(alpha)))
    return out


def _unit(x: Tensor) -> Tensor:
    return torch.nn.functional.normalize(x.float(), dim=1)


def _with_bias(x: Tensor) -> Tensor:
    return torch.cat([x, torch.ones(x.size(0), 1, dtype=x.dtype, device=x.device)], 1)
