"""Neighbour sampling for graphs too large to propagate whole in training.

PyG's :class:`~torch_geometric.loader.LinkNeighborLoader` does the batching; its
:class:`~torch_geometric.sampler.NeighborSampler` needs the compiled ``pyg-lib`` or
``torch-sparse`` to sample. Where neither is installed (PyPI has no wheels of them for
recent torch builds), :class:`TorchNeighborSampler` samples the same way in plain torch:
for each hop, up to ``num_neighbors[hop]`` incoming edges of every frontier node, chosen
uniformly without replacement, in the "directional" layout (edges point from the sampled
neighbour to the node that asked for it, nodes relabelled in order of first appearance,
seeds first). With ``pyg-lib`` present it defers to PyG.
"""
from __future__ import annotations

import torch
import torch_geometric.typing
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.sampler import NeighborSampler, SamplerOutput
from torch_geometric.sampler.base import SubgraphType


class TorchNeighborSampler(NeighborSampler):
    """A :class:`NeighborSampler` for homogeneous graphs that runs without compiled
    extensions (uniform, without replacement, directional, not temporal, not disjoint)."""

    def _sample(self, seed, seed_time=None, **kwargs):  # type: ignore[override]
        if (torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE or isinstance(seed, dict)):
            return super()._sample(seed, seed_time, **kwargs)
        if self.replace or self.disjoint or seed_time is not None or self.subgraph_type == SubgraphType.induced:
            raise NotImplementedError("the plain-torch neighbour sampler supports uniform, directional sampling only")
        return sample_neighbourhood(self.colptr, self.row, seed, self.num_neighbors.get_mapped_values())


def sample_neighbourhood(colptr: Tensor, row: Tensor, seed: Tensor, num_neighbors: list[int]) -> SamplerOutput:
    """Sample hop by hop from a CSC graph (``colptr`` ``(N+1,)``; ``row`` ``(E,)``, the
    sources of the edges into each target). ``seed`` holds distinct node ids, which come
    first in the output in the same order. Edges are returned as CSC positions (the
    loader maps them to edge ids)."""
    device = colptr.device
    seed = seed.long().to(device)
    local = torch.full((colptr.numel() - 1,), -1, dtype=torch.long, device=device)
    local[seed] = torch.arange(seed.numel(), device=device)
    count = seed.numel()
    nodes, rows, cols, edges = [seed], [], [], []
    sampled_nodes, sampled_edges = [seed.numel()], []
    frontier = seed
    for k in num_neighbors:
        start = colptr[frontier]
        degree = colptr[frontier + 1] - start
        first = torch.cumsum(degree, 0) - degree
        owner = torch.repeat_interleave(torch.arange(frontier.numel(), device=device), degree)
        rank = torch.arange(owner.numel(), device=device) - first[owner]
        edge_pos = start[owner] + rank
        if k >= 0 and owner.numel():
            # A random order within each owner: sort by owner, then by a random key.
            order = torch.argsort(owner.double() + 0.5 * torch.rand(owner.numel(), device=device, dtype=torch.float64))
            rank = torch.empty_like(order)
            rank[order] = torch.arange(order.numel(), device=device) - first[owner[order]]
            chosen = rank < k
            edge_pos, owner = edge_pos[chosen], owner[chosen]
        neighbours = row[edge_pos]
        unseen = neighbours[local[neighbours] < 0]
        new, inverse = torch.unique(unseen, return_inverse=True)
        first_seen = torch.full((new.numel(),), unseen.numel(), dtype=torch.long, device=device)
        first_seen.scatter_reduce_(0, inverse, torch.arange(unseen.numel(), device=device), reduce="amin")
        new = new[torch.argsort(first_seen)]
        local[new] = torch.arange(count, count + new.numel(), device=device)
        count += new.numel()
        rows.append(local[neighbours])
        cols.append(local[frontier[owner]])
        edges.append(edge_pos)
        nodes.append(new)
        sampled_nodes.append(new.numel())
        sampled_edges.append(int(edge_pos.numel()))
        frontier = new
    empty = torch.empty(0, dtype=torch.long, device=device)
    return SamplerOutput(
        node=torch.cat(nodes),
        row=torch.cat(rows) if rows else empty,
        col=torch.cat(cols) if cols else empty,
        edge=torch.cat(edges) if edges else empty,
        batch=None,
        num_sampled_nodes=sampled_nodes,
        num_sampled_edges=sampled_edges,
    )


class LinkSampler:
    """Samples the neighbourhood of a batch of (src, dst) seed pairs with
    :class:`LinkNeighborLoader`, reusing one sampler (its CSC index is built once)."""

    def __init__(self, edge_index: Tensor, num_nodes: int, num_neighbors: list[int]) -> None:
        self.data = Data(edge_index=edge_index.cpu(), num_nodes=num_nodes)
        self.num_neighbors = list(num_neighbors)
        self.sampler = TorchNeighborSampler(self.data, num_neighbors=self.num_neighbors)

    def sample(self, pairs: Tensor) -> Data:
        """One subgraph for all of ``pairs`` ``(2, B)``: ``n_id`` (global node ids, seeds
        first), ``edge_index`` (local, neighbour → node), ``e_id`` (ids into the graph's
        ``edge_index``) and ``edge_label_index`` (``pairs`` relabelled, same order)."""
        loader = LinkNeighborLoader(self.data, num_neighbors=self.num_neighbors, edge_label_index=pairs.cpu(),
                                    batch_size=pairs.size(1), shuffle=False, neighbor_sampler=self.sampler)
        return next(iter(loader))
