"""From a :class:`~kgrec.kg.graph.GraphExport` to PyTorch Geometric tensors.

Two views of the same export:

- :func:`export_to_hetero_data` — a :class:`torch_geometric.data.HeteroData` with node types
  ``User``, ``Item``, ``Entity`` and one edge type ``(src label, relationship type, dst
  label)`` per :class:`~kgrec.kg.graph.RelKey`, for anyone who wants the typed graph;
- :func:`build_propagation_graph` — what the model propagates over: one homogeneous node
  space (users first, then items, then entities), the training interactions plus the
  attribute and knowledge-graph edges, each in both directions, without duplicates or
  self-loops, with LightGCN's symmetric normalisation
  :math:`w_{ij} = 1 / \\sqrt{d_i d_j}`.

Node ``k`` of the homogeneous space is user ``k`` for ``k < U``, item ``k - U`` for
``U <= k < U + I`` and graph entity ``k - U - I`` after that (see :class:`NodeSpace`).
Every user and item of the export is a node; entities are nodes only when they have an
edge (``PropagationGraph.entity_index`` lists their export positions), so that the many
knowledge-graph entities linked to a single item cost nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import degree as node_degree

from kgrec.gnn.sparse import csr_adjacency, row_pointers
from kgrec.kg.graph import GraphExport
from kgrec.kg.identifiers import INTERACTIONS, USER_ATTRIBUTES

NODE_LABELS = ("User", "Item", "Entity")

EDGE_INTERACTION = 0
EDGE_ATTRIBUTE = 1
EDGE_KNOWLEDGE = 2


@dataclass(frozen=True)
class NodeSpace:
    """Where users, items and entities sit in the homogeneous node numbering."""

    n_users: int
    n_items: int
    n_entities: int

    @property
    def num_nodes(self) -> int:
        return self.n_users + self.n_items + self.n_entities

    @property
    def item_offset(self) -> int:
        return self.n_users

    @property
    def entity_offset(self) -> int:
        return self.n_users + self.n_items

    def offset(self, label: str) -> int:
        return {"User": 0, "Item": self.item_offset, "Entity": self.entity_offset}[label]

    def items(self) -> slice:
        return slice(self.item_offset, self.entity_offset)

    def entities(self) -> slice:
        return slice(self.entity_offset, self.num_nodes)

    @classmethod
    def of(cls, export: GraphExport) -> NodeSpace:
        return cls(*(len(export.nodes[label]) if label in export.nodes else 0 for label in NODE_LABELS))


def export_to_hetero_data(
    export: GraphExport,
    item_text: np.ndarray | None = None,
    entity_text: np.ndarray | None = None,
    interactions: np.ndarray | None = None,
) -> HeteroData:
    """The export as a typed PyG graph.

    Node stores carry ``num_nodes`` (and ``x`` = the text embeddings for ``Item`` and
    ``Entity`` when given); edge stores carry ``edge_index`` ``(2, E)`` and every numeric
    relationship property as a float tensor (``rating``, ``ts`` on INTERACTED; NaN = absent).
    ``interactions`` (a ``(2, E)`` array of user and item positions) replaces the export's
    INTERACTED edges, e.g. by a training split.
    """
    data = HeteroData()
    space = NodeSpace.of(export)
    for label, count in zip(NODE_LABELS, (space.n_users, space.n_items, space.n_entities)):
        data[label].num_nodes = count
    if item_text is not None:
        data["Item"].x = torch.as_tensor(np.asarray(item_text, dtype=np.float32))
    if entity_text is not None:
        data["Entity"].x = torch.as_tensor(np.asarray(entity_text, dtype=np.float32))
    for key, frame in export.edges.items():
        if key.src not in NODE_LABELS or key.dst not in NODE_LABELS:
            continue
        store = data[key.src, key.type, key.dst]
        if key == INTERACTIONS and interactions is not None:
            store.edge_index = torch.as_tensor(np.asarray(interactions, dtype=np.int64).reshape(2, -1))
            continue
        store.edge_index = torch.as_tensor(export.edge_index(key))
        for column in frame.columns:
            if column in ("src", "dst"):
                continue
            values = frame[column]
            if values.dtype.kind in "biuf":
                store[column] = torch.as_tensor(values.to_numpy(np.float32))
    if interactions is not None and ("User", INTERACTIONS.type, "Item") not in data.edge_types:
        data["User", INTERACTIONS.type, "Item"].edge_index = torch.as_tensor(
            np.asarray(interactions, dtype=np.int64).reshape(2, -1))
    return data


@dataclass
class PropagationGraph:
    """A symmetric, normalised homogeneous graph over users, items and entities.

    ``edge_index`` ``(2, E)`` holds every undirected edge twice (``i -> j`` and
    ``j -> i``), sorted by target then source; ``edge_kind`` ``(E,)`` says which kind it
    is (``EDGE_INTERACTION``, ``EDGE_ATTRIBUTE``, ``EDGE_KNOWLEDGE``); ``edge_weight``
    ``(E,)`` is :math:`1/\\sqrt{d_i d_j}` with ``d`` the degrees in this graph
    (``degree`` ``(N,)``). ``entity_index`` ``(space.n_entities,)`` holds the export
    position of each graph entity; ``entity_position`` ``(export entities,)`` the graph
    position of each export entity, ``-1`` for those left out.
    """

    space: NodeSpace
    edge_index: Tensor
    edge_kind: Tensor
    edge_weight: Tensor
    degree: Tensor
    entity_index: Tensor
    entity_position: Tensor

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.size(1))

    def to(self, device: torch.device | str) -> PropagationGraph:
        return replace(
            self,
            edge_index=self.edge_index.to(device),
            edge_kind=self.edge_kind.to(device),
            edge_weight=self.edge_weight.to(device),
            degree=self.degree.to(device),
            entity_index=self.entity_index.to(device),
            entity_position=self.entity_position.to(device),
        )

    def masked_adjacency(self, keep: Tensor) -> Tensor:
        """The normalised adjacency (sparse CSR ``(N, N)``, row = target) of the graph with
        only the edges where ``keep`` ``(E,)`` is True, renormalised: :math:`1/\\sqrt{d_i d_j}`
        with the degrees of the kept edges.

        The dropped edges stay in the matrix as zeros, so its structure is the whole
        graph's: nothing is filtered or re-sorted, which is what made renormalising a
        filtered subgraph the costliest part of a training step. ``keep`` must be
        symmetric (drop ``i -> j`` and ``j -> i`` together)."""
        src, dst = self.edge_index
        crow = self.crow
        # Kept in-degrees from a running count: the edges are sorted by target.
        running = torch.cat([keep.new_zeros(1, dtype=torch.long), torch.cumsum(keep, 0)])
        degree = (running.index_select(0, crow[1:]) - running.index_select(0, crow[:-1])).float()
        scale = degree.pow(-0.5).masked_fill_(degree == 0, 0.0)
        weight = (scale.index_select(0, src) * scale.index_select(0, dst)).masked_fill_(~keep, 0.0)
        return csr_adjacency(self.edge_index, weight, self.space.num_nodes, crow)

    @cached_property
    def edge_item(self) -> Tensor:
        """``(E,)``: the item (position among items) of each interaction edge, ``-1`` for
        the other edges."""
        src, dst = self.edge_index
        return torch.where(self.edge_kind == EDGE_INTERACTION, torch.maximum(src, dst) - self.space.item_offset, -1)

    @cached_property
    def crow(self) -> Tensor:
        """``(N + 1,)`` CSR row pointers of ``edge_index`` (sorted by target)."""
        return row_pointers(self.edge_index[1], self.space.num_nodes)

    def entity_nodes(self, entities: Tensor) -> Tensor:
        """Graph node ids of export entity positions, ``-1`` for entities not in the graph."""
        position = self.entity_position[entities]
        return torch.where(position >= 0, position + self.space.entity_offset, -1)

    def user_neighbours(self) -> tuple[Tensor, Tensor]:
        """CSR of each user's neighbours: ``(rowptr (U+1,), neighbour node (nnz,))``."""
        src, dst = self.edge_index
        mask = dst < self.space.n_users
        users, neighbours = dst[mask], src[mask]
        order = torch.argsort(users * self.space.num_nodes + neighbours)
        users, neighbours = users[order], neighbours[order]
        counts = torch.bincount(users, minlength=self.space.n_users)
        rowptr = torch.zeros(self.space.n_users + 1, dtype=torch.long, device=counts.device)
        rowptr[1:] = torch.cumsum(counts, 0)
        return rowptr, neighbours


def symmetric_norm(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """LightGCN's :math:`1/\\sqrt{d_i d_j}` per edge (PyG's ``gcn_norm`` without
    self-loops; ``edge_index`` symmetric), and the degrees."""
    _, weight = gcn_norm(edge_index, num_nodes=num_nodes, add_self_loops=False)
    return weight, node_degree(edge_index[1], num_nodes, dtype=torch.float32)


def build_propagation_graph(data: HeteroData, space: NodeSpace | None = None, min_entity_degree: int = 1) -> PropagationGraph:
    """The homogeneous message-passing graph of a :func:`export_to_hetero_data` graph.

    INTERACTED edges are interactions, HAS_ATTRIBUTE edges attributes, every other edge
    type a knowledge-graph fact. Relation types are merged: a pair of nodes linked by
    several relations (or in both directions) is one undirected edge. Entities with fewer
    than ``min_entity_degree`` distinct neighbours lose their edges (an entity linked to
    one item only sends that item's embedding back to it).
    """
    if space is None:
        space = NodeSpace(*(int(data[label].num_nodes or 0) if label in data.node_types else 0 for label in NODE_LABELS))
    parts: list[Tensor] = []
    kinds: list[Tensor] = []
    for (src_label, rel, dst_label) in data.edge_types:
        if src_label not in NODE_LABELS or dst_label not in NODE_LABELS:
            continue
        edge_index = data[src_label, rel, dst_label].edge_index.long()
        if edge_index.numel() == 0:
            continue
        if (rel, src_label, dst_label) == tuple(INTERACTIONS):
            kind = EDGE_INTERACTION
        elif (rel, src_label, dst_label) == tuple(USER_ATTRIBUTES):
            kind = EDGE_ATTRIBUTE
        else:
            kind = EDGE_KNOWLEDGE
        glob = torch.stack([edge_index[0] + space.offset(src_label), edge_index[1] + space.offset(dst_label)])
        parts.append(glob)
        kinds.append(torch.full((glob.size(1),), kind, dtype=torch.uint8))
    return _symmetric_graph(parts, kinds, space, min_entity_degree)


def _symmetric_graph(parts: list[Tensor], kinds: list[Tensor], space: NodeSpace, min_entity_degree: int = 1) -> PropagationGraph:
    n = space.num_nodes
    if parts:
        edge_index = torch.cat(parts, dim=1)
        kind = torch.cat(kinds)
    else:
        edge_index = torch.zeros((2, 0), dtype=torch.long)
        kind = torch.zeros(0, dtype=torch.uint8)
    keep = edge_index[0] != edge_index[1]
    edge_index, kind = edge_index[:, keep], kind[keep]
    if edge_index.numel() and int(edge_index.max()) >= n:
        raise ValueError(f"an edge points past the {n} nodes of the graph")
    # One undirected edge per node pair; the lowest kind (interaction < attribute < knowledge) wins.
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    key = (low * n + high) * 3 + kind.long()
    key = torch.unique(key)
    kind = (key % 3).to(torch.uint8)
    pair = key // 3
    low, high = pair // n, pair % n
    first = torch.ones_like(pair, dtype=torch.bool)
    first[1:] = pair[1:] != pair[:-1]
    low, high, kind = low[first], high[first], kind[first]
    if min_entity_degree > 1 and low.numel():
        degree = torch.bincount(torch.cat([low, high]), minlength=n)
        weak = (degree < min_entity_degree) & (torch.arange(n) >= space.entity_offset)
        keep = ~(weak[low] | weak[high])
        low, high, kind = low[keep], high[keep], kind[keep]
    # Keep the entities that still have an edge, renumbered in export order.
    touched = torch.zeros(n, dtype=torch.bool)
    touched[low] = True
    touched[high] = True
    entity_index = torch.nonzero(touched[space.entity_offset:]).flatten()
    entity_position = torch.full((space.n_entities,), -1, dtype=torch.long)
    entity_position[entity_index] = torch.arange(entity_index.numel())
    renumber = torch.cat([torch.arange(space.entity_offset), space.entity_offset + entity_position])
    low, high = renumber[low], renumber[high]
    space = NodeSpace(space.n_users, space.n_items, int(entity_index.numel()))
    n = space.num_nodes
    src = torch.cat([low, high])
    dst = torch.cat([high, low])
    kind = torch.cat([kind, kind])
    order = torch.argsort(dst * n + src)
    edge_index = torch.stack([src[order], dst[order]])
    kind = kind[order]
    weight, degree = symmetric_norm(edge_index, n)
    return PropagationGraph(space=space, edge_index=edge_index, edge_kind=kind, edge_weight=weight, degree=degree,
                            entity_index=entity_index, entity_position=entity_position)
