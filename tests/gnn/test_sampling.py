"""kgrec.gnn.sampling: the plain-torch neighbour sampler and the link sampler around PyG's loader."""
from __future__ import annotations

import torch
from test_model import tiny_world

from kgrec.gnn.graph_tensors import build_propagation_graph, export_to_hetero_data
from kgrec.gnn.sampling import LinkSampler, sample_neighbourhood


def test_each_hop_takes_at_most_the_fanout_of_real_incoming_edges_seeds_first() -> None:
    # targets 0..3; edges into 0 from 1, 2, 3; into 1 from 2; into 2 from 3; none into 3
    colptr = torch.tensor([0, 3, 4, 5, 5])
    row = torch.tensor([1, 2, 3, 2, 3])
    torch.manual_seed(0)
    out = sample_neighbourhood(colptr, row, torch.tensor([0]), [2, 1])
    assert out.node[0] == 0 and len(set(out.node.tolist())) == out.node.numel(), "seeds first, every node once"
    assert out.num_sampled_edges[0] == 2, "two of the three edges into the seed"
    sources, targets = out.node[out.row], out.node[out.col]
    real = {(int(row[p]), t) for t in range(4) for p in range(int(colptr[t]), int(colptr[t + 1]))}
    assert {(int(s), int(t)) for s, t in zip(sources, targets)} <= real
    assert torch.equal(row[out.edge], sources), "edge positions point at the sampled edges"
    everything = sample_neighbourhood(colptr, row, torch.tensor([0]), [-1])
    assert sorted(everything.node.tolist()) == [0, 1, 2, 3] and everything.num_sampled_edges == [3], "-1 takes all"


def test_neighbour_sampler_returns_real_edges_within_the_fanout() -> None:
    export, pairs, _, _ = tiny_world()
    graph = build_propagation_graph(export_to_hetero_data(export, interactions=pairs))
    sampler = LinkSampler(graph.edge_index, graph.space.num_nodes, [2, 2])
    seeds = torch.tensor([[0, 1, 6], [12, 13, 19]])
    torch.manual_seed(0)
    batch = sampler.sample(seeds)
    assert torch.equal(batch.n_id[batch.edge_label_index], seeds)
    global_edges = batch.n_id[batch.edge_index]
    assert torch.equal(graph.edge_index[:, batch.e_id], global_edges), "e_id points at the sampled edges"
    hop1 = batch.edge_index[:, : batch.num_sampled_edges[0]]
    assert int(torch.bincount(hop1[1]).max()) <= 2, "at most 2 neighbours per seed"
