"""What the model fits after the GNN so that new items and new users get strong scores:
an item–item component (EASE, :mod:`kgrec.gnn.ease`), a content tower (:mod:`kgrec.gnn.content_tower`)
and the blend with its exploration setting (:mod:`kgrec.gnn.fusion`).

:func:`fit_cold_start` runs once at the end of :meth:`kgrec.gnn.inference.KGRec.fit`, on the
training interactions and the validation pairs only:

1. the *cold view* of every warm item: warm items are cut into :data:`FOLDS` folds, and
   each fold in turn has its ID embeddings hidden (and those of the entities only its items
   have, :func:`arriving_entities`) and its interaction edges removed, then
   the graph is propagated once (no gradients) — what the GNN makes of those items as if
   they had just arrived with their text and knowledge-graph edges;
2. the content tower, from text to the final embeddings of warm items (for new items
   with text only);
3. EASE on the training interactions, :math:`\\lambda` on validation NDCG@20;
4. the blend (:func:`kgrec.gnn.fusion.fit_fusion`), with the folds of step 1 as pseudo-new items,
   each also scored by its text neighbours outside its fold (:func:`neighbour_scores`): a new
   item's item–item score is that of the warm items whose text is nearest its own.

All of it is closed form or a handful of propagations: seconds on ml-100k's CPU.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from kgrec.gnn.content_tower import ContentTower, fit_tower
from kgrec.gnn.ease import choose_lambda, gram_matrix
from kgrec.gnn.evidence import Evidence
from kgrec.gnn.fusion import Fusion, fit_fusion
from kgrec.gnn.graph_tensors import EDGE_KNOWLEDGE, PropagationGraph
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.model import KGRecModel, NodeInputs
from kgrec.gnn.pairs import sample_users
from kgrec.gnn.text_match import nearest, weighted_columns

log = logging.getLogger(__name__)

FOLDS = 5
"""Folds of warm items: each plays the new items once (20% of items, as the cold-item protocol)."""
MAX_USERS = 5000
"""Validation users the fits rank items for (a seeded sample beyond): each fit holds a few
users x items score matrices, 4 GB apiece for all 100k validation users of a 1M-interaction
catalog, while the handful of settings chosen here are told apart by a few thousand users."""


@dataclass
class ColdStart:
    """``item_item`` ``(W, W)``: EASE's ``B`` over the items with a trained ID embedding, in
    their ID-row order; ``lam`` its :math:`\\lambda`; the content tower; the blend; the
    new-user shrinkage (chosen last, by :class:`kgrec.gnn.inference.KGRec`, which scores
    the simulated new users)."""

    item_item: Tensor
    lam: float
    tower: ContentTower
    fusion: Fusion
    evidence: Evidence = field(default_factory=Evidence)

    def state(self) -> dict[str, Tensor]:
        return {"item_item": self.item_item, "lambda": torch.tensor(self.lam, dtype=torch.float64),
                **self.tower.state(), **self.fusion.state(), **self.evidence.state()}

    @classmethod
    def from_state(cls, state: dict[str, Tensor]) -> ColdStart:
        return cls(state["item_item"], float(state["lambda"]), ContentTower.from_state(state), Fusion.from_state(state),
                   Evidence.from_state(state))

    def item_table(self, final: Tensor, text: Tensor, warm: Tensor, has_edges: Tensor) -> Tensor:
        """Item embeddings to score with ``(I, d)``: the final ones, except for new items
        (not ``warm``) without knowledge-graph edges (``has_edges`` ``(I,)``), which get the
        tower's prediction from their ``text`` ``(I, T)``."""
        table = final.clone()
        text_only = ~warm & ~has_edges
        if text_only.any():
            table[text_only] = self.tower.predict(text[text_only]).to(table.dtype)
        return table

    def item_item_scores(self, x: Tensor, item_row: Tensor, neighbours: tuple[Tensor, Tensor]) -> Tensor:
        """``(Q, I)`` item–item scores of users given as ``(Q, W)`` weights over ID rows.
        An item without an ID row (``item_row`` ``(I,)``, ``-1``) gets its *neighbour*
        score: the weighted item–item scores of the warm items its text is nearest to,
        ``neighbours`` = their ID rows and weights ``(n_new, k)`` in the order of the new
        items (:func:`kgrec.gnn.text_match.nearest`)."""
        out = torch.zeros(x.size(0), item_row.numel(), device=x.device)
        warm = item_row >= 0
        scores = x @ self.item_item.to(x.device)
        out[:, warm] = scores[:, item_row[warm]]
        if not warm.all():
            out[:, ~warm] = weighted_columns(scores, *neighbours)
        return out


def item_edges(graph: PropagationGraph, kinds: tuple[int, ...] | None = None) -> Tensor:
    """``(I,)`` the number of edges of each item in ``graph`` (of ``kinds`` only when given)."""
    space = graph.space
    src, dst = graph.edge_index
    mask = (dst >= space.item_offset) & (dst < space.entity_offset)
    if kinds is not None:
        mask &= torch.isin(graph.edge_kind, torch.as_tensor(kinds, dtype=graph.edge_kind.dtype, device=dst.device))
    return torch.bincount(dst[mask] - space.item_offset, minlength=space.n_items)


@torch.no_grad()
def cold_views(model: KGRecModel, graph: PropagationGraph, nodes: NodeInputs, folds: Tensor, final: Tensor) -> Tensor:
    """``(I, d)``: each item of a fold (``folds`` ``(I,)``, ``-1`` = none) embedded with its
    fold's ID embeddings hidden and interaction edges removed; ``final`` ``(I, d)`` for the rest."""
    model.eval()
    space = graph.space
    out = final.clone()
    for fold in torch.unique(folds[folds >= 0]).tolist():
        in_fold = folds == fold
        dropped = (graph.edge_item >= 0) & in_fold[graph.edge_item.clamp(min=0)]
        keep = torch.ones(space.num_nodes, dtype=torch.bool, device=graph.edge_index.device)
        keep[space.item_offset + torch.nonzero(in_fold).flatten()] = False
        keep[space.entity_offset + torch.nonzero(arriving_entities(graph, in_fold)).flatten()] = False
        layers = model.propagate(model.inputs(space, nodes, keep), adjacency=graph.masked_adjacency(~dropped))
        out[in_fold] = model.combine([layer[space.items()] for layer in layers])[in_fold]
    return out


def arriving_entities(graph: PropagationGraph, items: Tensor) -> Tensor:
    """``(E,)`` bool: the entities whose every item is among ``items`` ``(I,)`` bool, which
    would have arrived with them. A cold view hides their ID embeddings too: trained on
    those items' interactions alone (an actor in one film carries what that film's
    viewers liked), they would hand the items back their own collaborative signal, which a
    new item's new entities do not have (with them, ml-100k's validation rated the cold
    views far above what truly new items reach)."""
    space = graph.space
    src, dst = graph.edge_index
    links = (dst >= space.item_offset) & (dst < space.entity_offset) & (src >= space.entity_offset)
    entity, item = src[links] - space.entity_offset, dst[links] - space.item_offset
    total = torch.bincount(entity, minlength=space.n_entities)
    inside = torch.bincount(entity[items[item]], minlength=space.n_entities)
    return (total > 0) & (inside == total)


def fit_cold_start(model: KGRecModel, graph: PropagationGraph, nodes: NodeInputs, final: Tensor, train: np.ndarray,
                   valid: np.ndarray, seed: int) -> ColdStart:
    """Fit the item–item component, the tower and the blend (see the module docstring).

    ``final`` ``(N, d)``: the trained model's final embeddings over ``graph``; ``train``,
    ``valid`` ``(2, E)`` (user, item) export positions (of at most :data:`MAX_USERS` users
    of ``valid``, sampled)."""
    space = graph.space
    device = final.device
    valid = sample_users(valid, MAX_USERS, seed)
    items_final = final[space.items()].float()
    warm = nodes.item_row >= 0
    warm_idx = torch.nonzero(warm).flatten()
    generator = torch.Generator().manual_seed(seed)
    folds = torch.full((space.n_items,), -1, dtype=torch.long, device=device)
    folds[warm_idx] = (torch.randperm(warm_idx.numel(), generator=generator) % FOLDS).to(device)
    views = cold_views(model, graph, nodes, folds, items_final)
    knowledge = item_edges(graph, (EDGE_KNOWLEDGE,)) > 0
    users = np.unique(valid[0])
    user_vectors = final[torch.as_tensor(users, device=device)].float()
    text = nodes.item_text.float()

    def as_new(predicted: Tensor) -> float:
        table = items_final.clone()
        table[warm_idx] = predicted.to(device)
        return among_fold_ndcg((user_vectors @ table.T).cpu(), users, folds.cpu(), train, valid)

    tower, text_oof = fit_tower(text[warm_idx].cpu(), items_final[warm_idx].cpu(), folds[warm_idx].cpu(), as_new)
    log.info("content tower: %s", tower.model)
    # Each warm item as it would arrive: its cold view, or the tower's guess when it has text only.
    pseudo_new = views.clone()
    pseudo_new[warm_idx] = torch.where(knowledge[warm_idx].unsqueeze(1), views[warm_idx], text_oof.to(device))

    gram = gram_matrix(train, space.n_items)
    lam, b, found = choose_lambda(gram, train, valid)
    log.info("item-item (EASE) lambda %g (validation NDCG@20 %s)", lam, {k: round(v, 4) for k, v in found.items()})
    b_t = torch.as_tensor(b, device=device)
    item_item = b_t[warm_idx][:, warm_idx].contiguous()

    x = torch.zeros(len(users), space.n_items, device=device)
    keep = np.isin(train[0], users)
    x[torch.as_tensor(np.searchsorted(users, train[0, keep]), device=device),
      torch.as_tensor(train[1, keep], device=device)] = 1.0
    tower_new = items_final.clone()
    tower_new[warm_idx] = text_oof.to(device)
    item_item_scores = (x @ b_t).masked_fill(~warm, 0.0)
    fusion = fit_fusion(
        gnn=(user_vectors @ items_final.T).cpu(),
        item_item=item_item_scores.cpu(),
        pseudo_cold_gnn=(user_vectors @ pseudo_new.T).cpu(),
        tower_gnn=(user_vectors @ tower_new.T).cpu(),
        neighbour_item_item=neighbour_scores(item_item_scores, text, folds).cpu(),
        text_only=(~knowledge).cpu(),
        folds=folds.cpu(),
        warm=warm.cpu(),
        users=users,
        train=train,
        valid=valid,
    )
    return ColdStart(item_item.cpu(), lam, tower, fusion)


def neighbour_scores(item_item: Tensor, text: Tensor, folds: Tensor) -> Tensor:
    """``(Q, I)``: each item of a fold (``folds`` ``(I,)``, ``-1`` = none; 0 elsewhere)
    scored as a new item's neighbours score it: the ``item_item`` ``(Q, I)`` scores of the
    items outside its fold whose ``text`` ``(I, T)`` is nearest its own."""
    out = torch.zeros_like(item_item)
    for fold in torch.unique(folds[folds >= 0]).tolist():
        rows = torch.nonzero(folds == fold).flatten()
        pool = torch.nonzero((folds >= 0) & (folds != fold)).flatten()
        nearest_rows, weights = nearest(text[rows], text[pool])
        out[:, rows] = weighted_columns(item_item, pool[nearest_rows], weights)
    return out


def among_fold_ndcg(scores: Tensor, users: np.ndarray, folds: Tensor, train: np.ndarray, valid: np.ndarray) -> float:
    """Mean over folds of the validation NDCG@20 of the pairs whose item is in the fold,
    ranked among that fold's items only: how well ``scores`` ``(Q, I)`` (of the sorted
    ``users``) rank items arriving together as new ones (the cold-item protocol's
    ranking among cold items)."""
    row = {int(u): r for r, u in enumerate(users)}
    found = []
    for fold in torch.unique(folds[folds >= 0]).tolist():
        candidates = torch.nonzero(folds == fold).flatten().numpy()
        pairs = valid[:, np.isin(valid[1], candidates)]
        if pairs.size:
            found.append(full_ranking(lambda ids: scores[[row[int(u)] for u in ids]], pairs, train, k=20,
                                      candidates=candidates)["ndcg@20"])
    return float(np.mean(found)) if found else 0.0
