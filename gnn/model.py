r"""The fusion model: text projections plus ID embeddings, propagated LightGCN-style over
users, items and knowledge-graph entities, scored by a dot product.

For a :class:`~kgrec.gnn.graph_tensors.PropagationGraph` with ``N = U + I + E`` nodes (users,
items, entities) and normalised adjacency :math:`\hat A = D^{-1/2} A D^{-1/2}`:

.. math::

    x^{(0)}_u &= m_u\, e_u \\
    x^{(0)}_i &= P_I\, t_i + m_i\, e_i \\
    x^{(0)}_k &= P_E\, t_k + m_k\, e_k \\
    x^{(l+1)} &= \hat A\, x^{(l)} \qquad (l = 0 \dots L-1) \\
    z &= \tfrac{1}{L+1} \textstyle\sum_{l=0}^{L} x^{(l)} \\
    s(u, i) &= z_u^\top z_i

where :math:`t_i, t_k \in \mathbb{R}^T` are text embeddings of items and entities,
:math:`P_I, P_E \in \mathbb{R}^{d \times T}` learnt projections, :math:`e \in \mathbb{R}^d`
ID embeddings and :math:`m \in \{0, 1\}` says whether a node has a usable ID embedding: 1
for nodes seen in training (users and items with training interactions, entities in the
training graph), 0 for cold ones, and randomly 0 during training (ID dropout) so that the
model learns to score from text and graph alone.

A user has no input of its own besides its ID, so a user is what its neighbours (its items
and attribute entities) make of it. That makes users inductive: a user not in the graph,
with neighbours :math:`N(u)` (liked items, attribute entities), gets

.. math::

    z_u = \tfrac{1}{L+1}\Big(m_u e_u + \textstyle\sum_{l=1}^{L} \sum_{j \in N(u)}
          \frac{x^{(l-1)}_j}{\sqrt{|N(u)|\, d_j}}\Big)

from the cached layers :math:`x^{(l)}` of the graph (:meth:`KGRecModel.fold_in`): exactly
what propagation would give it, leaving its neighbours' embeddings as they are.

Shapes: :meth:`KGRecModel.forward` takes the graph and :class:`NodeInputs` and returns
the ``L + 1`` layers, each ``(N, d)``; :meth:`KGRecModel.combine` turns them into the
``(N, d)`` final embeddings.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv import LGConv

from kgrec.gnn.graph_tensors import NodeSpace, PropagationGraph
from kgrec.gnn.sparse import csr_adjacency, propagated_mean, spmm


@dataclass(frozen=True)
class KGRecConfig:
    """The model's own settings (the shared ones — size, layers, budget — are in
    :class:`~kgrec.gnn.recommender.TrainSettings`)."""

    text_layers: int = 1
    """1: a linear text projection; 2: a two-layer MLP."""
    cold_item_rate: float = 0.2
    """Each training step, this share of the warm items is made cold: ID embedding hidden and
    interaction edges removed, as a new item arrives (item-side ID dropout)."""
    user_id_dropout: float = 0.2
    """Each step, this share of users has its ID embedding hidden (user-side ID dropout)."""
    new_user_rate: float = 0.2
    """Each step, this share of users is made new: ID hidden and each interaction edge kept
    only with probability ``new_user_keep`` (full-graph training only)."""
    new_user_keep: float = 0.1
    entity_id_dropout: float = 0.1
    loss: str = "softmax"
    """``bpr``: the mean of :math:`-\\log\\sigma(s_{ui} - s_{uj})` over the sampled
    negatives :math:`j`; ``softmax``: :math:`-\\log \\frac{e^{s_{ui}/\\tau}}{e^{s_{ui}/\\tau}
    + \\sum_j e^{s_{uj}/\\tau}}`."""
    negatives: int = 16
    """Negative items sampled (uniformly, among items with training interactions) per
    positive, or per batch with ``shared_negatives``."""
    shared_negatives: bool = False
    """One negative set for the whole batch: many negatives for one matrix product."""
    temperature: float = 1.0
    """:math:`\\tau`, dividing the scores in the softmax loss."""
    min_entity_degree: int = 2
    """Entities with fewer distinct neighbours are left out of the propagation graph (they
    only echo their one neighbour back)."""


@dataclass
class NodeInputs:
    """What the model reads for each node of a :class:`PropagationGraph` besides its edges.

    ``item_text`` ``(I, T)`` and ``entity_text`` ``(E, T)`` are text embeddings of the
    graph's items and entities; ``user_row`` ``(U,)``, ``item_row`` ``(I,)``,
    ``entity_row`` ``(E,)`` the row of each node's ID embedding in the model's tables,
    ``-1`` for a cold node (none).
    """

    item_text: Tensor
    entity_text: Tensor
    user_row: Tensor
    item_row: Tensor
    entity_row: Tensor

    def to(self, device: torch.device | str) -> NodeInputs:
        return NodeInputs(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def adjacency_matrix(graph: PropagationGraph) -> Tensor:
    """The normalised adjacency of ``graph`` as a sparse CSR ``(N, N)`` tensor (row = target)."""
    return csr_adjacency(graph.edge_index, graph.edge_weight, graph.space.num_nodes)


class KGRecModel(nn.Module):
    r"""Text + ID inputs, LightGCN propagation, dot-product scores (see the module docstring).

    Args:
        n_users, n_items, n_entities: sizes of the ID embedding tables (the training graph).
        text_dim: ``T``, the text encoder's embedding size.
        dim: ``d``.
        layers: ``L``, propagation steps.
        text_layers: 1 for a linear projection :math:`P t`; 2 for a small MLP
            :math:`W_2\,\mathrm{GELU}(W_1 t)`.

    Shapes:
        - forward: ``(graph, NodeInputs, keep: (N,) bool or None) ->`` ``L + 1`` layers ``(N, d)``
        - combine: ``L + 1`` layers ``(N, d) -> (N, d)``
        - fold_in: ``(layers, degree (N,), rowptr (Q + 1,), neighbours (nnz,), x0 (Q, d)) -> (Q, d)``
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_entities: int,
        text_dim: int,
        dim: int = 64,
        layers: int = 3,
        text_layers: int = 1,
    ) -> None:
        super().__init__()
        self.n_users, self.n_items, self.n_entities = n_users, n_items, n_entities
        self.text_dim, self.dim, self.layers, self.text_layers = text_dim, dim, layers, text_layers
        self.user_emb = nn.Embedding(max(n_users, 1), dim)
        self.item_emb = nn.Embedding(max(n_items, 1), dim)
        self.entity_emb = nn.Embedding(max(n_entities, 1), dim)
        self.item_proj = _projection(text_dim, dim, text_layers)
        self.entity_proj = _projection(text_dim, dim, text_layers)
        self.conv = LGConv(normalize=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.user_emb, self.item_emb, self.entity_emb):
            nn.init.normal_(emb.weight, std=0.1)
        for proj in (self.item_proj, self.entity_proj):
            for module in proj.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)

    def inputs(self, space: NodeSpace, nodes: NodeInputs, keep: Tensor | None = None,
               index: Tensor | None = None) -> Tensor:
        """Layer 0 of every node, ``(N, d)``, or of the nodes ``index`` ``(n,)`` only.

        ``keep`` (``(N,)``, or ``(n,)`` with ``index``) zeroes the ID part where False
        (ID dropout)."""
        if index is None:
            rows = (nodes.user_row, nodes.item_row, nodes.entity_row)
            if keep is not None:
                rows = tuple(torch.where(keep[part], row, -1)
                             for part, row in zip((slice(0, space.item_offset), space.items(), space.entities()), rows))
            users, items, entities = (_rows(table.weight, row) for table, row in
                                      zip((self.user_emb, self.item_emb, self.entity_emb), rows))
            items = items + self.item_proj(nodes.item_text).to(items.dtype)
            entities = entities + self.entity_proj(nodes.entity_text).to(entities.dtype)
            return torch.cat([users, items, entities])
        is_user = index < space.item_offset
        is_entity = index >= space.entity_offset
        is_item = ~is_user & ~is_entity
        users, items, entities = index[is_user], index[is_item] - space.item_offset, index[is_entity] - space.entity_offset
        x = self.user_emb.weight.new_zeros(index.numel(), self.dim)
        x[is_user] = _rows(self.user_emb.weight, nodes.user_row[users])
        x[is_item] = _rows(self.item_emb.weight, nodes.item_row[items])
        x[is_entity] = _rows(self.entity_emb.weight, nodes.entity_row[entities])
        if keep is not None:
            x = x * keep.unsqueeze(1).to(x.dtype)
        text = torch.zeros_like(x)
        text[is_item] = self.item_proj(nodes.item_text[items]).to(x.dtype)
        text[is_entity] = self.entity_proj(nodes.entity_text[entities]).to(x.dtype)
        return x + text

    def propagate(self, x: Tensor, adjacency: Tensor | None = None, edge_index: Tensor | None = None,
                  edge_weight: Tensor | None = None) -> list[Tensor]:
        """``(n, d) ->`` the ``L + 1`` layers :math:`x, \\hat A x, \\dots, \\hat A^L x`, each
        ``(n, d)`` float32.

        Over a symmetric sparse ``adjacency`` (the whole graph, :func:`adjacency_matrix`),
        or with :class:`~torch_geometric.nn.conv.LGConv` over a weighted ``edge_index``
        (a sampled subgraph, which is not symmetric)."""
        out = [x.float()]
        with torch.autocast(device_type=x.device.type, enabled=False):
            for _ in range(self.layers):
                if adjacency is not None:
                    out.append(spmm(adjacency, out[-1]))
                else:
                    out.append(self.conv(out[-1], edge_index, edge_weight.float()))
        return out

    def embed(self, x: Tensor, adjacency: Tensor) -> Tensor:
        """``(N, d) ->`` the final embeddings ``(N, d)`` over a symmetric ``adjacency``: the
        numbers of ``combine(propagate(x, adjacency))`` without keeping the layers, and a
        backward pass of ``L`` sparse products (see
        :class:`~kgrec.gnn.sparse.PropagatedMean`), for training."""
        return propagated_mean(adjacency, x, self.layers)

    def forward(self, graph: PropagationGraph, nodes: NodeInputs, keep: Tensor | None = None,
                adjacency: Tensor | None = None) -> list[Tensor]:
        """The ``L + 1`` layers, each ``(N, d)``, over the whole graph; ``adjacency``
        defaults to :func:`adjacency_matrix` of ``graph``."""
        if adjacency is None:
            adjacency = adjacency_matrix(graph)
        return self.propagate(self.inputs(graph.space, nodes, keep), adjacency=adjacency)

    @staticmethod
    def combine(layers: Sequence[Tensor]) -> Tensor:
        """``L + 1`` layers ``(n, d)`` -> ``(n, d)``: their mean."""
        total = layers[0]
        for layer in layers[1:]:
            total = total + layer
        return total / len(layers)

    def fold_in(self, layers: Tensor, degree: Tensor, rowptr: Tensor, neighbours: Tensor, x0: Tensor,
                counts: Tensor | None = None, strength: Tensor | None = None) -> Tensor:
        """Final embeddings ``(Q, d)`` of ``Q`` users outside the graph.

        Query ``q`` has neighbours ``neighbours[rowptr[q]:rowptr[q+1]]`` (homogeneous node
        ids) and layer-0 input ``x0[q]`` (its ID embedding or zeros, plus any projected
        text); ``degree`` ``(N,)`` holds the graph's degrees; ``counts`` ``(Q,)`` is the
        user's degree when it differs from its number of graph neighbours; ``strength``
        ``(nnz,)`` weighs each neighbour's messages (1 when omitted: a soft neighbour such as
        free text spread over several items has weights below 1)."""
        q = rowptr.numel() - 1
        sizes = rowptr[1:] - rowptr[:-1]
        if counts is None:
            counts = sizes
        owner = torch.repeat_interleave(torch.arange(q, device=rowptr.device), sizes)
        weight = (counts[owner].float().clamp(min=1) * degree[neighbours].clamp(min=1).float()).rsqrt()
        if strength is not None:
            weight = weight * strength.float()
        total = x0.float().clone()
        for layer in range(self.layers):
            messages = layers[layer][neighbours].float() * weight.unsqueeze(1)
            total = total + torch.zeros_like(total).index_add_(0, owner, messages)
        return total / (self.layers + 1)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(users={self.n_users}, items={self.n_items}, "
                f"entities={self.n_entities}, text_dim={self.text_dim}, dim={self.dim}, "
                f"layers={self.layers}, text_layers={self.text_layers})")


def _projection(text_dim: int, dim: int, text_layers: int) -> nn.Module:
    if text_layers <= 1:
        return nn.Linear(text_dim, dim, bias=False)
    return nn.Sequential(nn.Linear(text_dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim, bias=False))


def _rows(table: Tensor, rows: Tensor) -> Tensor:
    """``table[rows]`` with zeros where ``rows == -1``."""
    # index_select, whose gradient is one index_add_, not [] (a sorting index_put_).
    return table.index_select(0, rows.clamp(min=0)).masked_fill((rows < 0).unsqueeze(1), 0.0)
