r"""How the model's two scorers become one list: the GNN's dot products and an item–item
component, with new items placed on the same scale and an exploration setting.

For a user (known or folded in) and the catalog's items, with :math:`g_{ui}` the GNN score
(new items scored with their content-tower embedding, :mod:`kgrec.gnn.content_tower`) and
:math:`e_{ui} = x_u B_{:,i}` the item–item (EASE, :mod:`kgrec.gnn.ease`) score of the user's
items :math:`x_u`, each standardised per user over the *warm* items (those with a trained
ID embedding), :math:`\tilde g, \tilde e`:

.. math::

    f_{ui} &= \mathrm{std}_u\big((1 - m)\, \tilde g_{ui} + m\, \tilde e_{ui}\big) & i \text{ warm} \\
    f_{ui} &= a\, s_{ui} + b + \epsilon \cdot K \sigma, \quad
              s_{ui} = (1 - n)\, \tilde g_{ui} + n\, \tilde e_{ui} & i \text{ new}

``std_u`` standardises again over the warm items, so that every user's list is on one
scale. :math:`m` (``mix``) is chosen on validation NDCG@20. A new item has no item–item
column of its own: its :math:`e_{ui}` is its *neighbour* score, the item–item scores of
the warm items whose text is nearest its own, weighted by a softmax of their cosine
similarity (:mod:`kgrec.gnn.text_match`): a new edition of a film scores, for a fan of
the original, about as the original would. Its score is the best linear prediction of a
warm item's :math:`f` from :math:`s`, the blend of the scores it gets as a new item:
:math:`a, b` are fitted on validation users over warm items scored as if they had just
arrived (their neighbours drawn from the other folds), :math:`\sigma` is the residual
standard deviation of that fit (how unsure a new item's place is), and the neighbour
weight :math:`n` (:data:`NEW_MIXES`) is chosen on the same simulation. A new item arrives in one of
two kinds, embedded on different scales, and each kind has its own line: one with
knowledge-graph edges keeps the GNN's embedding (fitted on the warm items' *cold views*:
IDs hidden, interactions removed), one with text only gets the content tower's (fitted on
their *out-of-fold* tower embeddings). This is the score-scale alignment: without it a
new item's score sits near the bottom of every list, and with one line for both kinds
text-only items would crowd out items with facts, or the reverse.

The line is the best guess of the score a new item would get once warm, and regresses to
the mean; what a list needs is the item's chance of being wanted. So each kind also gets a
*hit-rate* placement (:meth:`Alignment.calibrated`): a new-item score goes where a warm
item's score has the same validation hit rate. Which placement serves (with which
exploration) is chosen on validation with the exploration, below.

:math:`\epsilon \in [0, 1]` is the exploration setting (after Amazon Personalize's
``explorationWeight``): an optimism bonus of :math:`\epsilon K` residual standard
deviations (:data:`EXPLORATION_SPREAD` = :math:`K`) that lets new items into lists, 0 =
their expected place only. Its default is chosen on validation: each fold of warm items
in turn plays the new items (their cold views or out-of-fold tower embeddings, their
neighbour scores instead of their own item–item ones), every validation pair is ranked
among all items, and the neighbour weight (first, by the line at no exploration), then
the placement and :math:`\epsilon` with the best *sum of two* NDCG@20 win, over the pairs
whose item is warm and over the pairs whose item plays new, among those that keep the warm
pairs' NDCG@20 within :data:`WARM_TOLERANCE` of the line without exploration. The
text-only kind's neighbour weight and placement are chosen the same way, at that :math:`\epsilon`, with the
folds arriving as text only (their out-of-fold tower embeddings): most validation items
have facts, so the first simulation says little about text-only arrivals. Weighting the two goals
equally, not by their number of pairs, is the product choice: a new item's chance to be
found counts as much as the warm lists' accuracy (weighted by pairs, ml-100k's
validation picks 0 and new items barely appear among all items); the tolerance keeps
warm lists' quality.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from kgrec.gnn.metrics import full_rankings

log = logging.getLogger(__name__)
V = TypeVar("V")

MIXES = (0.0, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)
"""The item–item weights :math:`m` tried: dense near 0.1, since an item–item score's
per-user z-scores run about three times as high at the top of a list as the GNN's."""
NEW_MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The weights tried of a new item's neighbour item–item score against its GNN score."""
EXPLORATIONS = tuple(i / 10 for i in range(11))
"""The exploration settings tried for the default."""
EXPLORATIONS_AT_ONCE = 3
"""Exploration settings simulated per pass while choosing the default (each pass ranks every
validation user once per fold and setting; the passes stop past the warm tolerance)."""
WARM_TOLERANCE = 0.95
"""The default exploration may cost the warm validation pairs at most 5% of their NDCG@20
when a fifth of the catalog is new (less where fewer items are)."""
EXPLORATION_SPREAD = 3.0
""":math:`K`: at exploration 1 a new item is scored 3 residual standard deviations above
its expected place."""


@dataclass
class Alignment:
    """Where one kind of new item lands on the warm items' scale: ``slope * s + bias``,
    ``spread`` the residual standard deviation of that fit; or, when ``knots`` ``(2, n)``
    is set (:meth:`calibrated`), the increasing piecewise-linear map through those
    ``(s, f)`` points, continued beyond them with ``slope``. ``s`` is the new item's
    standardised GNN score blended with its standardised *neighbour* item–item score,
    ``(1 - mix) * g + mix * e`` (:func:`new_item_score`)."""

    slope: float
    bias: float
    spread: float
    knots: Tensor | None = field(default=None, repr=False)
    mix: float = 0.0

    @classmethod
    def fit(cls, x: Tensor, y: Tensor) -> Alignment:
        """The least-squares line through the points ``(x, y)``."""
        x, y = x.flatten().double(), y.flatten().double()
        x_mean, y_mean = x.mean(), y.mean()
        slope = float(((x - x_mean) * (y - y_mean)).sum() / (x - x_mean).pow(2).sum().clamp(min=1e-12))
        bias = float(y_mean - slope * x_mean)
        return cls(slope, bias, float((y - (slope * x + bias)).std()))

    def calibrated(self, x: Tensor, x_hits: Tensor, warm: tuple[np.ndarray, np.ndarray]) -> Alignment:
        """This line's slope and spread, with knots that place a new item where a warm
        item is *as likely to be relevant*: ``x`` are new-item scores (warm items scored as
        new), ``x_hits`` whether each pair is a validation pair, and ``warm`` the warm final
        scores' :func:`hit_rates` (the same for every kind of new item).

        The line is the best guess of the score the item would get once warm, and so it
        regresses to the mean: with a correlation of 0.4 a new item three deviations above
        a user's average lands at 1.2, in the middle of the crowd, however well it matches.
        A list is ordered by how likely each item is to be wanted, so that is what is
        matched: the validation hit rate in quantile bins of each score (made increasing
        by isotonic regression, :class:`sklearn.isotonic.IsotonicRegression`), then each
        new-item bin mapped to the warm score of equal hit rate."""
        x_centres, x_rates = hit_rates(x, x_hits)
        y_centres, y_rates = warm
        # Equal rates -> equal scores; a flat run of rates keeps the new items' own order.
        rise = 1e-9 * np.arange(y_rates.size)
        mapped = np.interp(x_rates, y_rates + rise, y_centres)
        mapped = np.maximum.accumulate(mapped + 1e-3 * (x_centres - x_centres[0]))
        knots = torch.as_tensor(np.stack([x_centres, mapped]), dtype=torch.float64)
        return Alignment(self.slope, self.bias, self.spread, knots, self.mix)

    def place(self, standard: Tensor) -> Tensor:
        """A new item's place on the warm scale, from its blended standardised score."""
        if self.knots is None:
            return self.slope * standard + self.bias
        xs, ys = self.knots.to(standard.device)
        x = standard.double()
        upper = torch.searchsorted(xs, x.contiguous()).clamp(1, xs.numel() - 1)
        x0, x1, y0, y1 = xs[upper - 1], xs[upper], ys[upper - 1], ys[upper]
        inside = y0 + (x - x0) * (y1 - y0) / (x1 - x0).clamp(min=1e-12)
        out = torch.where(x < xs[0], ys[0] + self.slope * (x - xs[0]),
                          torch.where(x > xs[-1], ys[-1] + self.slope * (x - xs[-1]), inside))
        return out.to(standard.dtype)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Alignment):
            return NotImplemented
        same_knots = (self.knots is None and other.knots is None) or (
            self.knots is not None and other.knots is not None and torch.equal(self.knots, other.knots))
        return ((self.slope, self.bias, self.spread, self.mix) == (other.slope, other.bias, other.spread, other.mix)
                and same_knots)


CALIBRATION_LEVELS = 1 - np.geomspace(1.0, 1e-4, 48)
"""The quantile bins of :meth:`Alignment.calibrated`, their edges dense at the top of the
scores, where lists are decided (the last bin is the top 0.01%)."""


def hit_rates(scores: Tensor, hits: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per quantile bin of ``scores`` (:data:`CALIBRATION_LEVELS`): its mean score and its
    share of hits, made non-decreasing by isotonic regression weighted by the bin sizes."""
    from sklearn.isotonic import IsotonicRegression

    x = scores.flatten().double().numpy()
    h = hits.flatten().numpy().astype(np.float64)
    edges = np.unique(np.quantile(x, CALIBRATION_LEVELS))
    bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 1)
    counts = np.bincount(bins, minlength=edges.size)
    present = counts > 0
    centres = np.bincount(bins, weights=x, minlength=edges.size)[present] / counts[present]
    rates = np.bincount(bins, weights=h, minlength=edges.size)[present] / counts[present]
    rates = IsotonicRegression(increasing=True).fit(centres, rates, sample_weight=counts[present]).predict(centres)
    return centres, rates


@dataclass
class Fusion:
    """The fitted blend (see the module docstring). A new item arrives in one of two kinds,
    embedded differently and so aligned separately: with knowledge-graph edges (the GNN's
    own embedding, ``graph``) or with text only (the content tower's, ``text``)."""

    mix: float
    graph: Alignment
    text: Alignment
    exploration: float

    def combine(self, gnn: Tensor, item_item: Tensor, warm: Tensor, exploration: float | None = None,
                text_only: Tensor | None = None, moments: WarmMoments | None = None) -> Tensor:
        """``(Q, C)`` final scores from the GNN scores and item–item scores ``(Q, C)``;
        ``warm`` ``(C,)`` or ``(Q, C)`` bool marks items with a trained ID embedding (the
        others are new, and their ``item_item`` column is their neighbour score:
        :meth:`kgrec.gnn.cold_start.ColdStart.item_item_scores`), ``text_only`` (same
        shape) the new items embedded by the tower (default: none). The columns are the
        whole catalog, or any subset of it (the candidates of an approximate search,
        :mod:`kgrec.gnn.retrieval`) when ``moments`` gives each user's sums over all the
        catalog's warm items; without it the columns are taken as the whole catalog."""
        moments = moments or WarmMoments.of(gnn, item_item, warm)
        fused = warm_scores(gnn, item_item, moments, self.mix)
        new = ~warm
        if not new.any():
            return fused
        weight = EXPLORATION_SPREAD * (self.exploration if exploration is None else exploration)
        text_only = torch.zeros_like(warm) if text_only is None else text_only.to(warm.device)
        for kind, align in ((new & ~text_only, self.graph), (new & text_only, self.text)):
            if not kind.any():
                continue
            if kind.dim() == 1:  # the same columns for every user: only those are placed
                columns = torch.nonzero(kind).flatten()
                fused[:, columns] = _placed(align, moments, gnn[:, columns], item_item[:, columns], weight).to(fused.dtype)
            else:
                fused = torch.where(kind, _placed(align, moments, gnn, item_item, weight).to(fused.dtype), fused)
        return fused

    def state(self) -> dict[str, Tensor]:
        values = [self.mix, self.graph.slope, self.graph.bias, self.graph.spread, self.text.slope, self.text.bias,
                  self.text.spread, self.exploration]
        knots = {f"fusion_{name}_knots": align.knots for name, align in (("graph", self.graph), ("text", self.text))
                 if align.knots is not None}
        return {"fusion": torch.tensor(values, dtype=torch.float64),
                "fusion_new_mix": torch.tensor([self.graph.mix, self.text.mix], dtype=torch.float64), **knots}

    @classmethod
    def from_state(cls, state: dict[str, Tensor]) -> Fusion:
        v = [float(x) for x in state["fusion"].tolist()]
        graph_mix, text_mix = (float(x) for x in state.get("fusion_new_mix", torch.zeros(2)).tolist())
        return cls(v[0], Alignment(*v[1:4], state.get("fusion_graph_knots"), graph_mix),
                   Alignment(*v[4:7], state.get("fusion_text_knots"), text_mix), v[7])


@dataclass
class WarmMoments:
    """Per user ``(Q,)``, sums over the catalog's warm items of the GNN score :math:`g`, the
    item–item score :math:`e`, their squares and their product, and ``n`` the number of
    warm items: all that standardising per user needs, so scores of a few candidate columns
    are standardised exactly as over the whole row."""

    n: Tensor
    g: Tensor
    gg: Tensor
    e: Tensor
    ee: Tensor
    ge: Tensor

    @classmethod
    def of(cls, gnn: Tensor, item_item: Tensor, warm: Tensor) -> WarmMoments:
        """The sums over the ``warm`` ``(I,)`` columns of whole rows ``(Q, I)``."""
        w = warm.to(torch.float64).reshape(-1)
        g, e = gnn.double(), item_item.double()
        return cls(w.sum().clamp(min=2), g @ w, g.pow(2) @ w, e @ w, e.pow(2) @ w, (g * e) @ w)

    def standard_gnn(self, gnn: Tensor) -> Tensor:
        """:math:`\\tilde g`: ``gnn`` ``(Q, C)`` standardised by the warm items' mean and std."""
        scale, shift = _affine(self.g, self.gg, self.n)
        return (gnn * scale.unsqueeze(1) + shift.unsqueeze(1)).to(gnn.dtype)

    def standard_item_item(self, item_item: Tensor) -> Tensor:
        """:math:`\\tilde e`: ``item_item`` ``(Q, C)`` standardised by the warm items' mean and std."""
        scale, shift = _affine(self.e, self.ee, self.n)
        return (item_item * scale.unsqueeze(1) + shift.unsqueeze(1)).to(item_item.dtype)


def new_item_score(standard_gnn: Tensor, standard_item_item: Tensor, mix: float) -> Tensor:
    """What a new item is placed by: its standardised GNN score blended with its
    standardised neighbour item–item score (the item–item scores of the warm items whose
    text is closest to its own)."""
    return standard_gnn if mix == 0 else (1 - mix) * standard_gnn + mix * standard_item_item


def _placed(align: Alignment, moments: WarmMoments, gnn: Tensor, item_item: Tensor, bonus: float) -> Tensor:
    """New items' final scores: their blended standardised score placed by ``align``, plus
    ``bonus`` residual standard deviations (the exploration)."""
    standard = new_item_score(moments.standard_gnn(gnn), moments.standard_item_item(item_item), align.mix)
    return align.place(standard) + bonus * align.spread


def _affine(total: Tensor, squares: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
    """``(scale, shift)`` such that ``x * scale + shift`` standardises values whose sum and
    sum of squares over ``n`` items are given (sample std; no spread maps to 0)."""
    mean = total / n
    std = ((squares / n - mean.pow(2)).clamp(min=0) * n / (n - 1)).sqrt()
    scale = torch.where(std > 1e-12, 1 / std.clamp(min=1e-12), torch.zeros_like(std))
    return scale, -mean * scale


def standardise(scores: Tensor, warm: Tensor, reference: Tensor | None = None) -> Tensor:
    """``scores`` ``(Q, I)`` minus each row's mean over the ``warm`` columns of
    ``reference`` (default ``scores``), divided by its standard deviation there (rows
    without spread become 0)."""
    ref = scores if reference is None else reference
    return WarmMoments.of(ref, torch.zeros_like(ref), warm).standard_gnn(scores)


def warm_scores(gnn: Tensor, item_item: Tensor, moments: WarmMoments, mix: float) -> Tensor:
    """:math:`\\mathrm{std}_u((1 - m)\\tilde g + m \\tilde e)` for every column (new items'
    columns are overwritten by :meth:`Fusion.combine`), from the warm ``moments``: the blend
    is affine in :math:`g` and :math:`e`, so its own sums follow from theirs."""
    a_g, b_g = _affine(moments.g, moments.gg, moments.n)
    a_e, b_e = _affine(moments.e, moments.ee, moments.n)
    a, b, c = (1 - mix) * a_g, mix * a_e, (1 - mix) * b_g + mix * b_e
    n = moments.n
    total = a * moments.g + b * moments.e + c * n
    squares = (a.pow(2) * moments.gg + b.pow(2) * moments.ee + c.pow(2) * n + 2 * a * b * moments.ge
               + 2 * a * c * moments.g + 2 * b * c * moments.e)
    scale, shift = _affine(total, squares, n)
    a, b, c = a * scale, b * scale, c * scale + shift
    return (gnn.double() * a.unsqueeze(1) + item_item.double() * b.unsqueeze(1) + c.unsqueeze(1)).to(gnn.dtype)


def fit_fusion(
    gnn: Tensor,
    item_item: Tensor,
    pseudo_cold_gnn: Tensor,
    tower_gnn: Tensor,
    neighbour_item_item: Tensor,
    text_only: Tensor,
    folds: Tensor,
    warm: Tensor,
    users: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
) -> Fusion:
    """Choose :math:`m`, fit :math:`a, b, \\sigma` and the neighbour weight per kind of new
    item and choose the default exploration.

    Args:
        gnn, item_item: ``(Q, I)`` scores of the validation users ``users`` (sorted).
        pseudo_cold_gnn: ``(Q, I)`` GNN scores with every warm item embedded as if it were
            new: its cold view when it has knowledge-graph edges, else its out-of-fold
            content tower embedding.
        tower_gnn: ``(Q, I)`` GNN scores with every warm item embedded by its out-of-fold
            tower (how a text-only new item of that kind would land).
        neighbour_item_item: ``(Q, I)`` each warm item's neighbour score as a new item's:
            the item–item scores of its text neighbours outside its fold.
        text_only: ``(I,)`` bool, the warm items without knowledge-graph edges.
        folds: ``(I,)`` the fold of each warm item (``-1`` for the others).
        warm: ``(I,)`` bool, items with a trained ID embedding.
        train, valid: ``(2, E)`` (user, item) pairs; training items are masked.
    """
    def ndcgs(scores: Tensor, parts: dict[str, np.ndarray]) -> dict[str, float]:
        """NDCG@20 of each part's pairs, every user's list ranked once for all parts."""
        def batch(ids: Tensor) -> Tensor:  # a user's row: its position among the sorted users
            return scores[torch.as_tensor(np.searchsorted(users, ids.numpy()))]
        present = {name: pairs for name, pairs in parts.items() if pairs.size}
        found = full_rankings(batch, present, train, k=20) if present else {}
        return {name: found[name]["ndcg@20"] if name in found else 0.0 for name in parts}

    def ndcg(scores: Tensor, pairs: np.ndarray = valid) -> float:
        return ndcgs(scores, {"": pairs})[""]

    masked = lambda s: s.masked_fill(~warm, float("-inf"))  # noqa: E731
    moments = WarmMoments.of(gnn, item_item, warm)
    found = {mix: ndcg(masked(warm_scores(gnn, item_item, moments, mix))) for mix in MIXES}
    mix = max(found, key=lambda m: (found[m], -m))
    log.info("item-item mix: %s -> %.3f", {m: round(v, 4) for m, v in found.items()}, mix)
    fused = warm_scores(gnn, item_item, moments, mix)
    # How a warm item's final score follows from the score it gets as a new item, per
    # kind and neighbour weight: by a line, or by hit rates (the validation pairs,
    # training pairs left out).
    hits = torch.zeros(gnn.shape, dtype=torch.bool)
    hits[np.searchsorted(users, valid[0]), valid[1]] = True
    candidate = torch.ones(gnn.shape, dtype=torch.bool)
    seen = train[:, np.isin(train[0], users)]
    candidate[np.searchsorted(users, seen[0]), seen[1]] = False
    tower_standard = standardise(tower_gnn, warm, reference=gnn)
    cold_standard = standardise(pseudo_cold_gnn, warm, reference=gnn)
    neighbour_standard = moments.standard_item_item(neighbour_item_item)
    with_edges = warm & ~text_only

    warm_pairs = candidate & warm
    warm_rates = hit_rates(fused[warm_pairs], hits[warm_pairs])

    def aligned(standard: Tensor, kind: Tensor, new_mix: float, by_hit_rate: bool = True) -> tuple[Alignment, ...]:
        """The line through a kind's (new-item score, warm score) points, then (when
        ``by_hit_rate``) its hit-rate placement."""
        x = new_item_score(standard, neighbour_standard, new_mix)
        line = replace(Alignment.fit(x[:, kind], fused[:, kind]), mix=new_mix)
        if not by_hit_rate:
            return (line,)
        pairs = candidate & kind
        return line, line.calibrated(x[pairs], hits[pairs], warm_rates)

    text = {m: aligned(tower_standard, warm, m) for m in NEW_MIXES}
    with_edges_scores = (cold_standard, with_edges) if with_edges.any() else (tower_standard, warm)
    fold_ids = [int(f) for f in torch.unique(folds[folds >= 0]).tolist()]

    def arrivals(variants: dict[V, Fusion], new_gnn: Tensor, new_text_only: Tensor,
                 explorations: tuple[float, ...] = EXPLORATIONS) -> dict[V, dict[tuple[float, str], float]]:
        """Per variant, the mean NDCG@20 over the folds of the pairs on warm and on arriving
        items, per exploration, with each fold's items arriving as ``new_gnn`` scores them
        and as that variant places them. A fold's warm scores are the same for every
        variant (the same blend over the same warm items): computed once, and only the
        arriving items' columns are placed again."""
        found: dict[V, dict[tuple[float, str], float]] = {name: {} for name in variants}
        for fold in fold_ids:
            kept = warm & (folds != fold)
            moments_kept = WarmMoments.of(gnn, item_item, kept)
            scores = warm_scores(gnn, item_item, moments_kept, mix).masked_fill(~warm, float("-inf"))
            plays_new = (folds == fold).numpy()[valid[1]]
            parts = {"warm": valid[:, ~plays_new], "new": valid[:, plays_new]}
            arriving = warm & ~kept
            kinds = [torch.nonzero(arriving & ~new_text_only).flatten(), torch.nonzero(arriving & new_text_only).flatten()]
            for name, fusion in variants.items():
                placed = [(columns, _placed(align, moments_kept, new_gnn[:, columns], neighbour_item_item[:, columns],
                                            0.0).to(scores.dtype), align.spread)
                          for columns, align in zip(kinds, (fusion.graph, fusion.text)) if columns.numel()]
                for exploration in explorations:
                    for columns, values, spread in placed:
                        scores[:, columns] = values + exploration * EXPLORATION_SPREAD * spread
                    for part, value in ndcgs(scores, parts).items():
                        found[name][exploration, part] = found[name].get((exploration, part), 0.0) + value / len(fold_ids)
        return found

    def total(found: dict[tuple[float, str], float], exploration: float) -> float:
        return found[exploration, "warm"] + found[exploration, "new"]

    # The items arrive as they are (cold views where they have edges): first the weight of
    # their text neighbours' item-item scores, placed by the line without exploration...
    lines = {m: Fusion(mix, aligned(*with_edges_scores, m, by_hit_rate=False)[0], text[m][0], 0.0) for m in NEW_MIXES}
    by_mix = {m: total(f, 0.0) for m, f in arrivals(lines, pseudo_cold_gnn, text_only, (0.0,)).items()}
    graph_mix = max(NEW_MIXES, key=lambda m: (by_mix[m], -m))
    # ... then the placement of that kind and the exploration, among the settings that keep
    # the warm pairs within WARM_TOLERANCE of the line without exploration.
    # The warm pairs' NDCG can only fall as the exploration rises (new items move up, warm
    # ones down), so the explorations are tried a few at a time, in order, and a placement is
    # dropped at its first one beyond the tolerance: the same choice as the whole grid's.
    ways = ("line", "hit rates")
    graph = aligned(*with_edges_scores, graph_mix)
    variants = {way: Fusion(mix, graph[n], text[graph_mix][n], 0.0) for n, way in enumerate(ways)}
    found: dict[str, dict[tuple[float, str], float]] = {way: {} for way in ways}
    allowed: list[tuple[str, float]] = []
    for start in range(0, len(EXPLORATIONS), EXPLORATIONS_AT_ONCE):
        tried = EXPLORATIONS[start:start + EXPLORATIONS_AT_ONCE]
        for way, more in arrivals(variants, pseudo_cold_gnn, text_only, tried).items():
            found[way].update(more)
        for way in list(variants):
            within = [e for e in tried if found[way][e, "warm"] >= WARM_TOLERANCE * found["line"][0.0, "warm"]]
            allowed += [(way, e) for e in within]
            if len(within) < len(tried):
                del variants[way]
        if not variants:
            break
    graph_way, exploration = max(allowed, key=lambda c: (total(found[c[0]], c[1]), c[0] == "line", -c[1]))
    graph_align = graph[ways.index(graph_way)]
    # The same items arriving with text only (the tower's embeddings): that kind's
    # neighbour weight and placement.
    everything = torch.ones_like(text_only)
    as_text = arrivals({(m, way): Fusion(mix, graph_align, text[m][n], 0.0) for m in NEW_MIXES for n, way in enumerate(ways)},
                       tower_gnn, everything, (exploration,))
    text_mix, text_way = max(as_text, key=lambda c: (total(as_text[c], exploration), c[1] == "line", -c[0]))
    fusion = Fusion(mix, graph_align, text[text_mix][ways.index(text_way)], exploration)
    log.info("new items with edges: neighbour weight %.2f from %s, placed by %s, exploration %.1f, from (placement, "
             "exploration): (warm, new NDCG@20) %s; text-only ones: neighbour weight %.2f by %s, from %s", graph_mix,
             {m: round(v, 4) for m, v in by_mix.items()}, graph_way, exploration,
             {(w, e): (round(f[e, "warm"], 4), round(f[e, "new"], 4)) for w, f in found.items() for e in EXPLORATIONS
              if (e, "warm") in f},
             text_mix, text_way,
             {c: (round(f[exploration, "warm"], 4), round(f[exploration, "new"], 4)) for c, f in as_text.items()})
    return fusion
