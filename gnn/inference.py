"""The fusion model behind the :class:`~kgrec.gnn.recommender.Recommender` interface, and cold-start
inference without retraining.

:class:`KGRec` trains a :class:`~kgrec.gnn.model.KGRecModel` (:meth:`KGRec.fit`), scores users
(:meth:`KGRec.score`), saves and loads itself (:meth:`KGRec.save`, :meth:`KGRec.load`: a
:class:`~kgrec.gnn.checkpoint.Checkpoint` folder), and follows the
catalog as it grows (:meth:`KGRec.refresh`).

How cold start works, with no retraining:

- **A new item** (ingested after training, with text and knowledge-graph edges) — call
  :meth:`KGRec.refresh` with the fresh export and its text embeddings. Every node is
  looked up by id in the id maps saved with the model: a known node keeps its trained ID
  embedding, a new one has none (``-1`` row) and enters as the projection of its text.
  The propagation graph is rebuilt from the fresh export and propagated once (no
  gradients), so the new item's embedding mixes its text with its entities' (directors,
  actors, genres), which carry what the users who liked their other items liked. On
  ml-100k a refresh takes well under a second on the CPU; scoring afterwards is a matrix
  product. This is the state the model was trained for: each training step hides the IDs
  and interaction edges of a random share of items.
- **A new user** — a :class:`~kgrec.gnn.recommender.UserQuery` with liked items, attribute
  entities and/or an embedded free-text description. Its embedding is folded in from the
  cached layer embeddings of those neighbours, exactly as propagation would compute a
  user node with those edges (:meth:`~kgrec.gnn.model.KGRecModel.fold_in`); free text enters
  as one more neighbour, a soft one: the items whose text is closest to it, weighted by a
  softmax of their cosine similarity (:func:`kgrec.gnn.text_match.nearest`), so that words
  land where the catalog's items are and the items' collaborative signal (popularity
  included) comes with them. Training hides users' IDs at random, so the model is fitted
  to users represented by their neighbours alone.
- **A known user with new likes** — the same fold-in over the user's training neighbours
  plus the new ones, with its ID embedding kept.

Scores are not the GNN's dot products alone: after training, :mod:`kgrec.gnn.cold_start` fits an
item–item component (EASE over the training interactions), a content tower that places
new items where warm items sit, and the blend of the two scorers with an exploration
setting (:mod:`kgrec.gnn.fusion`). A user's items (training ones, liked ones, the soft text
matches) are the item–item component's input, so a new user's few likes move the list.
A catalog of more than :data:`kgrec.gnn.ease.MAX_ITEMS` items is scored by the GNN alone (the
item–item matrix is dense).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kgrec.gnn.checkpoint import COLD_START, Checkpoint, ModelShape
from kgrec.gnn.cold_start import ColdStart, fit_cold_start, item_edges
from kgrec.gnn.curve import TrainingCurve
from kgrec.gnn.ease import MAX_ITEMS
from kgrec.gnn.evidence import Evidence, blend, choose_evidence, prior_query
from kgrec.gnn.fusion import WarmMoments
from kgrec.gnn.graph_tensors import EDGE_INTERACTION, EDGE_KNOWLEDGE, NodeSpace, PropagationGraph, build_propagation_graph, export_to_hetero_data
from kgrec.gnn.model import KGRecConfig, KGRecModel, NodeInputs
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.runtime import seed_everything
from kgrec.gnn.text_match import nearest
from kgrec.gnn.train import TrainProblem, final_embeddings, train_model
from kgrec.kg.device import resolve_device
from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphExport

log = logging.getLogger(__name__)


@dataclass
class AddedItems:
    """Items outside the current graph (added since the last refresh), as :meth:`KGRec.score`
    scores them (:meth:`KGRec.fold_in_items` makes them): ``vectors`` ``(n, d)`` their
    embeddings, ``text_only`` ``(n,)`` which have text only (the tower's embedding), and
    ``neighbours``, ``weights`` ``(n, k)`` the ID rows of the warm items nearest their text
    and their weights (their item–item score)."""

    vectors: Tensor
    text_only: Tensor
    neighbours: Tensor
    weights: Tensor

    def __len__(self) -> int:
        return self.vectors.size(0)

    def __add__(self, other: AddedItems) -> AddedItems:
        return AddedItems(torch.cat([self.vectors, other.vectors]), torch.cat([self.text_only, other.text_only]),
                          torch.cat([self.neighbours, other.neighbours]), torch.cat([self.weights, other.weights]))


@dataclass
class IdMaps:
    """Which node ids have a trained ID embedding, per label, in the row order of the
    model's tables: users and items with training interactions, entities in the training
    graph. Any other id — new, or present in training without edges — is cold."""

    ids: dict[str, list[str]]

    def rows(self, label: str, ids: Sequence[str]) -> np.ndarray:
        """The ID-embedding row of each id, ``-1`` where it has none."""
        position = {node_id: i for i, node_id in enumerate(self.ids.get(label, []))}
        return np.fromiter((position.get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    def size(self, label: str) -> int:
        return len(self.ids.get(label, []))


class KGRec(Recommender):
    """Text + knowledge graph + interactions, one model for warm and cold users and items.

    >>> rec = KGRec()
    >>> rec.fit(data, KGRec.default_settings())   # train, early-stopped on data.valid
    >>> rec.score([UserQuery(user=3), UserQuery(liked=[10, 42], attributes=[7])])
    >>> rec.refresh(new_export, new_item_text, new_entity_text)   # new items are cold
    """

    name = "kgrec"

    @classmethod
    def default_settings(cls) -> TrainSettings:
        """``lr=0.01, batch_size=8192``, tuned on ml-100k's warm validation split: a
        full-graph propagation per step makes large batches cheap, and with
        :class:`TrainSettings`' ``lr=1e-3, batch_size=2048`` training would take several
        hundred epochs of 36 propagations each, far past a 5-minute CPU budget."""
        return TrainSettings(lr=0.01, batch_size=8192)

    def __init__(self, config: KGRecConfig | None = None, text_model: str = "", progress: bool = True) -> None:
        self.config = config or KGRecConfig()
        self.text_model = text_model
        self.progress = progress
        self.model: KGRecModel | None = None
        self.settings: TrainSettings | None = None
        self.curve: TrainingCurve | None = None
        self.id_maps: IdMaps | None = None
        self.fingerprint = ""
        self.device = torch.device("cpu")
        self._graph: PropagationGraph | None = None
        self._nodes: NodeInputs | None = None
        self._layers: Tensor | None = None
        self._final: Tensor | None = None
        self._user_neighbours: tuple[Tensor, Tensor] | None = None
        self.cold_start: ColdStart | None = None
        """The item–item component, content tower and blend; None for a GNN-only model."""
        self._items: Tensor | None = None
        self._text_only: Tensor | None = None
        """``(I,)`` bool: the graph's new items without knowledge-graph edges."""
        self._unit_text: Tensor | None = None
        self._warm_text: tuple[Tensor, Tensor] | None = None
        """The unit text embeddings ``(W, T)`` of the graph's items with an ID row, and those rows."""
        self._new_neighbours: tuple[Tensor, Tensor] | None = None
        """The warm items (ID rows) nearest the text of each new item of the graph, and their
        weights ``(n_new, k)``: the new items' item–item scores."""
        self._warm_sum: Tensor | None = None
        self._warm_gram: Tensor | None = None
        """The warm items' embedding sum ``(d,)`` and Gram matrix ``(d, d)``, float64."""
        self._average_user: tuple[Tensor, Tensor] | None = None
        """What the empty query is scored as: the warm users' mean final embedding ``(d,)``
        and mean item row ``(I,)`` (each item's share of users who interacted with it)."""

    # --- training ------------------------------------------------------------------

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        from kgrec.gnn.splits import fingerprint

        seed_everything(settings.seed)
        self.settings = settings
        self.device = resolve_device(settings.device)
        export = data.export
        train = np.asarray(data.train, dtype=np.int64).reshape(2, -1)
        graph = self._build_graph(export, train)
        space = graph.space
        warm = {
            "User": np.bincount(train[0], minlength=space.n_users)[: space.n_users] > 0,
            "Item": np.bincount(train[1], minlength=space.n_items)[: space.n_items] > 0,
        }
        entity_ids = export.ids("Entity")
        self.id_maps = IdMaps({
            "User": [str(i) for i, w in zip(export.ids("User"), warm["User"]) if w],
            "Item": [str(i) for i, w in zip(export.ids("Item"), warm["Item"]) if w],
            "Entity": [str(entity_ids[e]) for e in graph.entity_index.tolist()],
        })
        self.fingerprint = fingerprint(export)
        nodes = self._node_inputs(export, graph, data.item_text, data.entity_text)
        self.model = KGRecModel(self.id_maps.size("User"), self.id_maps.size("Item"), self.id_maps.size("Entity"),
                                nodes.item_text.size(1),
                                dim=settings.dim, layers=settings.layers, text_layers=self.config.text_layers)
        self.model.to(self.device)
        self._graph, self._nodes = graph.to(self.device), nodes.to(self.device)
        problem = TrainProblem(
            graph=self._graph,
            nodes=self._nodes,
            train=torch.as_tensor(train, device=self.device),
            valid=np.asarray(data.valid, dtype=np.int64).reshape(2, -1),
            warm_items=torch.as_tensor(warm["Item"], device=self.device),
        )
        self.curve = train_model(self.model, problem, settings, self.config, progress=self.progress)
        self._prepare()
        assert self._final is not None
        if space.n_items > MAX_ITEMS:
            log.warning("%d items, more than the item-item component's %d: the model scores with the GNN alone",
                        space.n_items, MAX_ITEMS)
            return
        started = time.perf_counter()
        self.cold_start = fit_cold_start(self.model, self._graph, self._nodes, self._final, train, problem.valid,
                                         settings.seed)
        self._prepare()
        self.cold_start.evidence = self._choose_evidence(train, problem.valid, settings.seed)
        log.info("cold-start components fitted in %.1f s", time.perf_counter() - started)

    def _choose_evidence(self, train: np.ndarray, valid: np.ndarray, seed: int) -> Evidence:
        """The new-user shrinkage (:mod:`kgrec.gnn.evidence`), chosen with validation users
        playing new ones: their training items and attribute entities as they would reveal them."""
        assert self.cold_start is not None and self._graph is not None and self._nodes is not None
        assert self._user_neighbours is not None
        space = self.space
        rowptr, neighbours = self._user_neighbours
        entity_index = self._graph.entity_index.cpu()
        user_items: dict[int, np.ndarray] = {}
        user_attributes: dict[int, tuple[int, ...]] = {}
        for user in np.unique(valid[0]).tolist():
            own = neighbours[int(rowptr[user]): int(rowptr[user + 1])].cpu()
            user_items[user] = (own[(own >= space.item_offset) & (own < space.entity_offset)] - space.item_offset).numpy()
            user_attributes[user] = tuple(entity_index[own[own >= space.entity_offset] - space.entity_offset].tolist())
        self.cold_start.evidence = Evidence()
        return choose_evidence(self.score, user_items, user_attributes, self._nodes.item_text.float().cpu().numpy(),
                               train, valid, seed)

    # --- serving -----------------------------------------------------------------------

    def refresh(self, export: GraphExport, item_text: np.ndarray, entity_text: np.ndarray,
                interactions: np.ndarray | None = None) -> None:
        """Serve over ``export`` (e.g. the store's graph after new items or users arrived).

        Nodes are matched to the trained ID embeddings by id; new nodes are cold.
        ``interactions`` ``(2, E)`` (user, item) positions replace the export's own
        INTERACTED edges when given. Propagates once; no training."""
        if self.model is None or self.id_maps is None:
            raise KgrecError("the model has not been trained or loaded yet")
        started = time.perf_counter()
        if interactions is None:
            from kgrec.gnn.splits import interactions as all_interactions

            interactions = all_interactions(export)
        graph = self._build_graph(export, np.asarray(interactions, dtype=np.int64).reshape(2, -1))
        nodes = self._node_inputs(export, graph, item_text, entity_text)
        self._graph, self._nodes = graph.to(self.device), nodes.to(self.device)
        self._prepare()
        log.info("refreshed over %d users, %d items, %d entities in %.2f s", graph.space.n_users,
                 graph.space.n_items, graph.space.n_entities, time.perf_counter() - started)

    def save(self, directory: Path | str) -> Path:
        """Write the model folder (see :mod:`kgrec.gnn.checkpoint`)."""
        return self.to_checkpoint().write(directory)

    @classmethod
    def load(cls, directory: Path | str, device: str = "auto", progress: bool = True) -> KGRec:
        """A saved model, every file checked; :meth:`refresh` it with the current export
        before scoring."""
        return cls.from_checkpoint(Checkpoint.read(directory), device=device, progress=progress)

    def to_checkpoint(self) -> Checkpoint:
        """What :meth:`save` writes: weights, settings, table sizes, id maps and curve."""
        if self.model is None or self.id_maps is None or self.settings is None:
            raise KgrecError("nothing to save: the model has not been trained")
        model = self.model
        shape = ModelShape(n_users=model.n_users, n_items=model.n_items, n_entities=model.n_entities,
                           text_dim=model.text_dim, dim=model.dim, layers=model.layers, text_layers=model.text_layers)
        return Checkpoint(state=model.state_dict(), shape=shape, settings=self.settings, config=self.config,
                          ids=self.id_maps.ids, text_model=self.text_model, fingerprint=self.fingerprint,
                          curve=self.curve, cold_start=None if self.cold_start is None else self.cold_start.state())

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, device: str = "auto", progress: bool = True) -> KGRec:
        """The model a checkpoint describes, on ``device``; not yet refreshed."""
        shape = checkpoint.shape
        model = KGRecModel(shape.n_users, shape.n_items, shape.n_entities, shape.text_dim, dim=shape.dim,
                           layers=shape.layers, text_layers=shape.text_layers)
        try:
            model.load_state_dict(checkpoint.state)
        except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
            raise KgrecError(f"the weights do not fit the model the folder describes ({str(exc).splitlines()[0]}): "
                             "the folder mixes files of different models; train again") from None
        rec = cls(checkpoint.config, text_model=checkpoint.text_model, progress=progress)
        rec.settings = checkpoint.settings
        rec.device = resolve_device(device)
        rec.model = model.to(rec.device)
        rec.id_maps = IdMaps(checkpoint.ids)
        rec.fingerprint = checkpoint.fingerprint
        rec.curve = checkpoint.curve
        if checkpoint.cold_start is not None:
            try:
                rec.cold_start = ColdStart.from_state(checkpoint.cold_start)
            except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise KgrecError(f"the cold-start file of the model ({COLD_START}) is incomplete ({type(exc).__name__}: "
                                 f"{exc}): train again") from None
        return rec

    @property
    def space(self) -> NodeSpace:
        if self._graph is None:
            raise KgrecError("the model has not been trained or loaded yet")
        return self._graph.space

    def item_embeddings(self) -> Tensor:
        """The embeddings ``(I, d)`` the current graph's items are scored with, on the CPU:
        the final ones, the content tower's for new items with text only."""
        self._require_ready()
        assert self._items is not None
        return self._items.float().cpu()

    def text_neighbours(self, items: Sequence[int], added: AddedItems | None = None,
                        limit: int = 3) -> list[list[tuple[str, float]]]:
        """For each item position (the graph's items, then ``added``'s), the ``limit`` warm
        items whose text is nearest its own, as ``(item id, weight)``, when it is a new item
        (a new item's item–item score is theirs, weighted so); empty for a warm item, or for
        a model without the item–item component."""
        self._require_ready()
        assert self._nodes is not None and self._new_neighbours is not None and self.id_maps is not None
        if self.cold_start is None:
            return [[] for _ in items]
        item_row = self._nodes.item_row.cpu()
        new_positions = torch.nonzero(item_row < 0).flatten()
        ids = self.id_maps.ids["Item"]
        out: list[list[tuple[str, float]]] = []
        for position in map(int, items):
            if position >= item_row.numel():
                if added is None or position - item_row.numel() >= len(added):
                    raise KgrecError(f"item index {position} is outside the graph and the added items")
                rows, weights = added.neighbours[position - item_row.numel()], added.weights[position - item_row.numel()]
            elif item_row[position] < 0:
                n = int(torch.searchsorted(new_positions, torch.tensor(position)))
                rows, weights = self._new_neighbours[0][n].cpu(), self._new_neighbours[1][n].cpu()
            else:
                out.append([])
                continue
            out.append([(ids[int(r)], float(w)) for r, w in zip(rows[:limit], weights[:limit])])  # best first
        return out

    def node_embeddings(self, label: str, rows: Sequence[int]) -> Tensor:
        """Final embeddings ``(len(rows), d)`` of nodes of ``label`` ("User", "Item" or
        "Entity") by their row in the current export, on the CPU; zeros for an entity left
        out of the propagation graph. Explanations weigh the paths to an item with them."""
        self._require_ready()
        assert self._final is not None and self._graph is not None
        index = torch.as_tensor(list(rows), dtype=torch.long)
        if label == "Entity":
            index = self._graph.entity_position.cpu()[index]
        out = torch.zeros(index.numel(), self._final.size(1))
        present = index >= 0
        out[present] = self._final[(index[present] + self.space.offset(label)).to(self.device)].float().cpu()
        return out

    @torch.no_grad()
    def score(self, queries: Sequence[UserQuery], exploration: float | None = None, added: AddedItems | None = None,
              candidates: Tensor | None = None) -> Tensor:
        """``(len(queries), n_items + len(added))`` scores. ``exploration`` in 0..1 (default:
        the model's, chosen on validation) is how far new items (no trained ID embedding)
        are let into the list: 0 places them where their content predicts, 1 three residual
        standard deviations higher (:mod:`kgrec.gnn.fusion`). ``added`` are items outside
        the current graph (added since the last refresh, :meth:`fold_in_items`), scored
        after the graph's own as new items.

        ``candidates`` ``(len(queries), C)`` item positions (added items after the graph's):
        the ``(len(queries), C)`` scores of those items only, exactly what the whole row
        gives them (an approximate search's candidates re-ranked, :mod:`kgrec.gnn.retrieval`)."""
        self._require_ready()
        assert self._items is not None and self._nodes is not None and self._text_only is not None
        assert self._new_neighbours is not None
        if exploration is not None and not 0.0 <= float(exploration) <= 1.0:
            raise KgrecError(f"exploration must be between 0 and 1, got {exploration!r}")
        items, item_row, text_only = self._items, self._nodes.item_row, self._text_only
        neighbours, weights = self._new_neighbours
        if added is not None and len(added):
            items = torch.cat([items, added.vectors.to(items.device, items.dtype)])
            item_row = torch.cat([item_row, item_row.new_full((len(added),), -1)])
            text_only = torch.cat([text_only, added.text_only.to(text_only.device, torch.bool)])
            neighbours = torch.cat([neighbours, added.neighbours.to(neighbours.device)])
            weights = torch.cat([weights, added.weights.to(weights.device)])
        users = self._user_vectors(queries)
        if candidates is None:
            gnn = users @ items.T
        else:
            candidates = candidates.to(self.device)
            gnn = torch.einsum("qd,qcd->qc", users, items[candidates])
        if self.cold_start is None:
            return gnn.cpu()
        x = self._item_weights(queries)
        rows = torch.zeros(len(queries), self.cold_start.item_item.size(0), device=self.device)
        own = self._nodes.item_row
        warm_own = own >= 0
        rows[:, own[warm_own]] = x[:, warm_own]
        item_item = self.cold_start.item_item_scores(rows, item_row, (neighbours, weights))
        warm = item_row >= 0
        fusion = self.cold_start.fusion
        if candidates is None:
            fused = fusion.combine(gnn.float(), item_item, warm, exploration, text_only)
        else:
            fused = fusion.combine(gnn.float(), item_item.gather(1, candidates), warm[candidates], exploration,
                                   text_only[candidates], moments=self._warm_moments(users, item_item, warm))
        weight = torch.as_tensor([self.cold_start.evidence.weight(q) for q in queries], device=fused.device)
        shrunk = torch.nonzero(weight < 1).flatten()
        if shrunk.numel():
            # A new user's list, pulled towards their prior by how little they revealed.
            prior = self.score([prior_query(queries[q]) for q in shrunk.tolist()], exploration, added,
                               None if candidates is None else candidates[shrunk])
            fused[shrunk] = blend(fused[shrunk], prior.to(fused.device, fused.dtype), weight[shrunk])
        return fused.cpu()

    def _warm_moments(self, users: Tensor, item_item: Tensor, warm: Tensor) -> WarmMoments:
        """Each user's sums over all warm items, without scoring them all: the GNN score is
        a dot product, so its sums come from the warm items' sum and Gram matrix."""
        assert self._warm_sum is not None and self._warm_gram is not None and self._items is not None
        u = users.double()
        e = item_item.double()
        e_warm = e[:, warm]
        items_warm = self._items[warm[: self._items.size(0)]].double()
        return WarmMoments(n=warm.sum().double().clamp(min=2), g=u @ self._warm_sum, gg=((u @ self._warm_gram) * u).sum(1),
                           e=e_warm.sum(1), ee=e_warm.pow(2).sum(1), ge=((e_warm @ items_warm) * u).sum(1))

    @property
    def exploration(self) -> float:
        """The default exploration setting (chosen on validation when the model was trained)."""
        return self.cold_start.fusion.exploration if self.cold_start is not None else 0.0

    @torch.no_grad()
    def user_embeddings(self, queries: Sequence[UserQuery]) -> Tensor:
        """The final vector ``(len(queries), d)`` each query scores items with, on the CPU:
        a known user's own, or one folded in from the query's liked items, attributes and
        text. Explanations weigh the nodes next to an item by it."""
        self._require_ready()
        return self._user_vectors(queries).cpu()

    @torch.no_grad()
    def fold_in_items(self, text: np.ndarray, neighbours: Sequence[Sequence[tuple[str, int]]]) -> AddedItems:
        """How ``n`` items outside the current graph are scored (:meth:`score`'s ``added``),
        on the CPU: their embeddings — what :meth:`item_embeddings` would give them after a
        refresh —, which have text only, and the warm items nearest their text.

        ``text`` ``(n, t)`` holds their text embeddings, ``neighbours[q]`` item ``q``'s
        neighbours as ``("Entity" | "Item", export row)``. An item with neighbours in the
        propagation graph is folded in from their cached layers, as for a new user
        (:meth:`KGRecModel.fold_in`), with the projection of its text as layer 0 (its
        neighbours' own embeddings are not updated); an item with text only gets the content
        tower's embedding, as :meth:`item_embeddings` gives such items."""
        self._require_ready()
        assert self.model is not None and self._graph is not None and self._layers is not None
        space = self.space
        parts: list[Tensor] = []
        for entries in neighbours:
            entities = torch.as_tensor([row for label, row in entries if label == "Entity"], dtype=torch.long)
            items = torch.as_tensor([row for label, row in entries if label == "Item" and 0 <= row < space.n_items],
                                    dtype=torch.long)
            nodes = self._graph.entity_nodes(entities.to(self.device)).cpu() if entities.numel() else entities
            parts.append(torch.unique(torch.cat([nodes[nodes >= 0], items + space.item_offset])))
        counts = torch.as_tensor([p.numel() for p in parts], dtype=torch.long)
        text_tensor = torch.as_tensor(np.asarray(text, dtype=np.float32), device=self.device)
        x0 = self.model.item_proj(text_tensor).float()
        folded = self.model.fold_in(self._layers, self._graph.degree, _rowptr(counts).to(self.device),
                                    torch.cat(parts).to(self.device) if parts else torch.zeros(0, dtype=torch.long,
                                                                                              device=self.device),
                                    x0)
        text_only = (counts == 0).to(self.device)
        if self.cold_start is not None and text_only.any():
            folded[text_only] = self.cold_start.tower.predict(text_tensor[text_only]).to(folded.dtype)
        rows, weights = self._nearest_warm(text_tensor)
        return AddedItems(folded.cpu(), text_only.cpu(), rows.cpu(), weights.cpu())

    # --- internals -------------------------------------------------------------------------

    def _build_graph(self, export: GraphExport, interactions: np.ndarray) -> PropagationGraph:
        hetero = export_to_hetero_data(export, interactions=interactions)
        return build_propagation_graph(hetero, NodeSpace.of(export), min_entity_degree=self.config.min_entity_degree)

    def _node_inputs(self, export: GraphExport, graph: PropagationGraph, item_text: np.ndarray,
                     entity_text: np.ndarray) -> NodeInputs:
        assert self.id_maps is not None
        space = graph.space
        item_text = _text_matrix(item_text, space.n_items, "item")
        entity_text = _text_matrix(entity_text, len(export.ids("Entity")), "entity", item_text.shape[1])
        if self.model is not None and item_text.shape[1] != self.model.text_dim:
            raise KgrecError(f"the text embeddings have {item_text.shape[1]} dimensions but the model was trained "
                             f"on {self.model.text_dim} ({self.text_model or 'another text model'}): "
                             "embed with the model's text encoder")
        entity_index = graph.entity_index.numpy()
        entity_ids = export.ids("Entity")
        return NodeInputs(
            item_text=torch.as_tensor(item_text),
            entity_text=torch.as_tensor(entity_text[entity_index]),
            user_row=torch.as_tensor(self.id_maps.rows("User", [str(i) for i in export.ids("User")])),
            item_row=torch.as_tensor(self.id_maps.rows("Item", [str(i) for i in export.ids("Item")])),
            entity_row=torch.as_tensor(self.id_maps.rows("Entity", [str(entity_ids[e]) for e in entity_index])),
        )

    def _prepare(self) -> None:
        assert self.model is not None and self._graph is not None and self._nodes is not None
        self._layers, self._final = final_embeddings(self.model, self._graph, self._nodes)
        self._user_neighbours = self._graph.user_neighbours()
        final_items = self._final[self.space.items()].float()
        self._unit_text = torch.nn.functional.normalize(self._nodes.item_text.float(), dim=1)
        warm_users = self._nodes.user_row >= 0
        interactions = item_edges(self._graph, (EDGE_INTERACTION,)).float()
        self._average_user = (self._final[: self.space.n_users][warm_users].float().mean(0)
                              if warm_users.any() else torch.zeros(self._final.size(1), device=self.device),
                              interactions / max(int(warm_users.sum()), 1))
        knowledge = item_edges(self._graph, (EDGE_KNOWLEDGE,)) > 0
        item_row = self._nodes.item_row
        self._text_only = (item_row < 0) & ~knowledge
        self._warm_text = (self._unit_text[item_row >= 0], item_row[item_row >= 0])
        self._new_neighbours = self._nearest_warm(self._unit_text[item_row < 0])
        if self.cold_start is None:
            self._items = final_items
            return
        self._items = self.cold_start.item_table(final_items, self._nodes.item_text.float(), self._nodes.item_row >= 0,
                                                 knowledge)
        warm_items = self._items[self._nodes.item_row >= 0].double()
        self._warm_sum, self._warm_gram = warm_items.sum(0), warm_items.T @ warm_items

    def _nearest_warm(self, text: Tensor) -> tuple[Tensor, Tensor]:
        """The ID rows ``(n, k)`` of the warm items nearest each of ``text`` ``(n, T)``, and
        their weights."""
        assert self._warm_text is not None
        warm_text, warm_rows = self._warm_text
        found, weights = nearest(text, warm_text)
        return warm_rows[found], weights

    def _text_neighbours(self, text: np.ndarray) -> tuple[Tensor, Tensor]:
        """The items (export positions) a free-text embedding is matched to and their
        weights (summing to 1)."""
        assert self._unit_text is not None
        vector = torch.as_tensor(np.asarray(text, dtype=np.float32).reshape(-1), device=self.device)
        if vector.numel() != self._unit_text.size(1):
            raise KgrecError(f"the text embedding has {vector.numel()} dimensions; the items' have {self._unit_text.size(1)}")
        rows, weights = nearest(vector.unsqueeze(0), self._unit_text)
        return rows[0], weights[0]

    def _item_weights(self, queries: Sequence[UserQuery]) -> Tensor:
        """``(Q, I)`` each query's items: 1 for a known user's items in the graph and for
        liked items, the soft weights of the items its text matches; the average user's
        for the empty query."""
        assert self._user_neighbours is not None and self._average_user is not None
        space = self.space
        rowptr, neighbours = self._user_neighbours
        x = torch.zeros(len(queries), space.n_items, device=self.device)
        for q, query in enumerate(queries):
            if query.is_empty:
                x[q] = self._average_user[1]
            if query.user is not None:
                user = _check_index(query.user, space.n_users, "user")
                own = neighbours[int(rowptr[user]): int(rowptr[user + 1])]
                own = own[(own >= space.item_offset) & (own < space.entity_offset)] - space.item_offset
                x[q, own] = 1.0
            if query.liked:
                x[q, torch.as_tensor([_check_index(i, space.n_items, "item") for i in query.liked], device=self.device)] = 1.0
            if query.text is not None:
                items, weights = self._text_neighbours(query.text)
                x[q].index_add_(0, items, weights)
        return x

    def _user_vectors(self, queries: Sequence[UserQuery]) -> Tensor:
        assert self._final is not None and self.model is not None
        users = torch.empty(len(queries), self.model.dim, device=self.device)
        plain = [q for q, query in enumerate(queries) if _is_plain(query)]
        if plain:
            index = torch.as_tensor([queries[q].user for q in plain], device=self.device)
            users[torch.as_tensor(plain, device=self.device)] = self._final[index].float()
        empty = [q for q, query in enumerate(queries) if query.is_empty]
        if empty:
            assert self._average_user is not None
            users[torch.as_tensor(empty, device=self.device)] = self._average_user[0]
        plain_set = set(plain) | set(empty)
        folded = [q for q in range(len(queries)) if q not in plain_set]
        if folded:
            users[torch.as_tensor(folded, device=self.device)] = self._fold_in([queries[q] for q in folded])
        return users

    def _require_ready(self) -> None:
        if self.model is None or self._final is None:
            raise KgrecError("the model has not been trained or loaded yet")

    def _fold_in(self, queries: Sequence[UserQuery]) -> Tensor:
        assert self.model is not None and self._layers is not None and self._graph is not None
        assert self._user_neighbours is not None and self._nodes is not None
        space = self.space
        n_entities = self._graph.entity_position.numel()
        rowptr, neighbours = self._user_neighbours
        rowptr_cpu = rowptr.cpu()
        parts: list[Tensor] = []
        strengths: list[Tensor] = []
        counts: list[int] = []
        x0 = torch.zeros(len(queries), self.model.dim, device=self.device)
        for q, query in enumerate(queries):
            ids: list[Tensor] = []
            if query.user is not None:
                user = _check_index(query.user, space.n_users, "user")
                ids.append(neighbours[int(rowptr_cpu[user]): int(rowptr_cpu[user + 1])].cpu())
                row = int(self._nodes.user_row[user])
                if row >= 0:
                    x0[q] = self.model.user_emb.weight[row].float()
            if query.liked:
                liked = torch.as_tensor([_check_index(i, space.n_items, "item") for i in query.liked])
                ids.append(liked + space.item_offset)
            if query.attributes:
                attrs = torch.as_tensor([_check_index(e, n_entities, "entity") for e in query.attributes])
                nodes = self._graph.entity_nodes(attrs.to(self.device)).cpu()
                ids.append(nodes[nodes >= 0])  # an entity outside the graph carries nothing
            merged = torch.unique(torch.cat(ids)) if ids else torch.zeros(0, dtype=torch.long)
            strength = torch.ones(merged.numel())
            count = merged.numel()
            if query.text is not None:
                # The text is one more neighbour, spread over the items it matches.
                items, weights = self._text_neighbours(query.text)
                merged, inverse = torch.unique(torch.cat([merged, items.cpu() + space.item_offset]), return_inverse=True)
                strength = torch.zeros(merged.numel()).index_add_(0, inverse, torch.cat([strength, weights.cpu()]))
                count += 1
            parts.append(merged)
            strengths.append(strength)
            counts.append(count)
        sizes = torch.as_tensor([p.numel() for p in parts], dtype=torch.long)
        return self.model.fold_in(self._layers, self._graph.degree, _rowptr(sizes).to(self.device),
                                  torch.cat(parts).to(self.device), x0,
                                  counts=torch.as_tensor(counts, dtype=torch.long, device=self.device),
                                  strength=torch.cat(strengths).to(self.device))


def _is_plain(query: UserQuery) -> bool:
    return query.user is not None and not query.liked and not query.attributes and query.text is None


def _rowptr(counts: Tensor) -> Tensor:
    rowptr = torch.zeros(counts.numel() + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(counts, 0)
    return rowptr


def _check_index(value: int, size: int, what: str) -> int:
    index = int(value)
    if not 0 <= index < size:
        raise KgrecError(f"{what} index {index} is outside the graph (0..{size - 1})")
    return index


def _text_matrix(text: np.ndarray, rows: int, what: str, dim: int | None = None) -> np.ndarray:
    text = np.asarray(text, dtype=np.float32)
    if text.size == 0 and rows == 0:
        return np.zeros((0, dim or 1), dtype=np.float32)
    if text.ndim != 2 or text.shape[0] != rows:
        raise KgrecError(f"expected {rows} {what} text embeddings, got an array of shape {text.shape}")
    if dim is not None and text.shape[1] != dim:
        raise KgrecError(f"{what} text embeddings have {text.shape[1]} dimensions, items have {dim}")
    return text
