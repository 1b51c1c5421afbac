"""The fusion model, its graph tensors, cold-start inference and checkpoints, on tiny graphs
built here.

The tiny world: two genres A and B. Items 0-4 are A films, items 5-9 B films; users 0-5
like A films, users 6-11 B films; A fans have the attribute "x", B fans "y". Text
embeddings point along one direction per genre, with noise. Items 10 (A) and 11 (B) have
text and a genre edge but no interactions: cold items.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from kgrec.gnn.graph_tensors import (
    EDGE_ATTRIBUTE,
    EDGE_INTERACTION,
    EDGE_KNOWLEDGE,
    build_propagation_graph,
    export_to_hetero_data,
)
from kgrec.gnn.evidence import Evidence
from kgrec.gnn.inference import KGRec
from kgrec.gnn.model import KGRecConfig, KGRecModel, NodeInputs, adjacency_matrix
from kgrec.gnn.recommender import TrainData, TrainSettings, UserQuery
from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphExport, RelKey
from kgrec.kg.identifiers import INTERACTIONS, USER_ATTRIBUTES

IN_GENRE = RelKey("IN_GENRE", "Item", "Entity")
TEXT_DIM = 16
A_ITEMS, B_ITEMS = range(0, 5), range(5, 10)
A_USERS, B_USERS = range(0, 6), range(6, 12)
COLD_A, COLD_B = 10, 11


def tiny_world(n_items: int = 12, seed: int = 0) -> tuple[GraphExport, np.ndarray, np.ndarray, np.ndarray]:
    """The export (items 0..n_items-1), all interactions ``(2, E)``, item text, entity text."""
    rng = np.random.default_rng(seed)
    pairs = []
    for users, items in ((A_USERS, A_ITEMS), (B_USERS, B_ITEMS)):
        for u in users:
            for i in rng.choice(list(items), size=4, replace=False):
                pairs.append((u, int(i)))
    pairs_arr = np.array(sorted(pairs)).T
    genre_of = ["genre:A" if i in A_ITEMS or i == COLD_A else "genre:B" for i in range(n_items)]
    entities = ["attr:x", "attr:y", "genre:A", "genre:B"]
    nodes = {
        "Item": pd.DataFrame({"id": [f"i{i:03d}" for i in range(n_items)], "title": [f"film {i}" for i in range(n_items)]}),
        "User": pd.DataFrame({"id": [f"u{u:03d}" for u in range(12)]}),
        "Entity": pd.DataFrame({"id": entities, "name": entities, "type": ["attr", "attr", "genre", "genre"]}),
    }
    entity = {e: k for k, e in enumerate(entities)}
    edges = {
        INTERACTIONS: pd.DataFrame({"src": pairs_arr[0], "dst": pairs_arr[1], "rating": 4.0,
                                  "ts": np.arange(pairs_arr.shape[1], dtype=float)}),
        USER_ATTRIBUTES: pd.DataFrame({"src": range(12), "dst": [entity["attr:x"]] * 6 + [entity["attr:y"]] * 6}),
        IN_GENRE: pd.DataFrame({"src": range(n_items), "dst": [entity[g] for g in genre_of]}),
    }
    direction = {"genre:A": np.eye(TEXT_DIM)[0], "genre:B": np.eye(TEXT_DIM)[1]}
    item_text = np.stack([direction[g] + 0.3 * rng.standard_normal(TEXT_DIM) for g in genre_of]).astype(np.float32)
    entity_text = (0.3 * rng.standard_normal((len(entities), TEXT_DIM))).astype(np.float32)
    return GraphExport(nodes=nodes, edges=edges), pairs_arr, item_text, entity_text


def tiny_data(n_items: int = 12, seed: int = 0) -> TrainData:
    export, pairs, item_text, entity_text = tiny_world(n_items, seed)
    valid_mask = np.zeros(pairs.shape[1], dtype=bool)
    valid_mask[::4] = True
    return TrainData(export, pairs[:, ~valid_mask], pairs[:, valid_mask], item_text, entity_text)


SMALL = TrainSettings(dim=16, layers=2, epochs=60, lr=0.02, weight_decay=1e-4, batch_size=16, patience=60, seed=0,
                      device="cpu")


@pytest.fixture(scope="module")
def fitted() -> KGRec:
    rec = KGRec(KGRecConfig(cold_item_rate=0.3), text_model="test-encoder", progress=False)
    rec.fit(tiny_data(), SMALL)
    return rec


# --- graph tensors -------------------------------------------------------------------------


def test_propagation_graph_is_symmetric_normalised_and_deduplicated() -> None:
    export, pairs, _, _ = tiny_world()
    # A duplicate interaction and a second relation on the same pair must not add edges.
    hetero = export_to_hetero_data(export, interactions=np.hstack([pairs, pairs[:, :1]]))
    hetero["Entity", "ALSO", "Item"].edge_index = torch.tensor([[2], [0]])  # genre:A -> item 0 again
    graph = build_propagation_graph(hetero)
    space = graph.space
    assert (space.n_users, space.n_items, space.n_entities) == (12, 12, 4)
    src, dst = graph.edge_index
    pairs_set = set(zip(src.tolist(), dst.tolist()))
    assert len(pairs_set) == graph.num_edges, "no duplicate edges"
    assert all((d, s) in pairs_set for s, d in pairs_set), "every edge in both directions"
    assert bool((src != dst).all())
    kinds = torch.bincount(graph.edge_kind.long(), minlength=3)
    assert int(kinds[EDGE_INTERACTION]) == 2 * pairs.shape[1]
    assert int(kinds[EDGE_ATTRIBUTE]) == 2 * 12
    assert int(kinds[EDGE_KNOWLEDGE]) == 2 * 12
    degree = torch.bincount(dst, minlength=space.num_nodes).float()
    assert torch.allclose(graph.degree, degree)
    assert torch.allclose(graph.edge_weight, (degree[src] * degree[dst]).rsqrt())


def test_masked_adjacency_is_the_renormalised_graph_of_the_kept_edges() -> None:
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    export, pairs, _, _ = tiny_world()
    graph = build_propagation_graph(export_to_hetero_data(export, interactions=pairs))
    n = graph.space.num_nodes
    src, dst = graph.edge_index
    pair = torch.minimum(src, dst) * n + torch.maximum(src, dst)
    drop_pair = torch.rand(n * n, generator=torch.Generator().manual_seed(0)) < 0.4
    keep = ~drop_pair[pair]  # symmetric: both directions share their pair's draw
    kept = graph.edge_index[:, keep]
    _, weight = gcn_norm(kept, num_nodes=n, add_self_loops=False)
    expected = torch.zeros(n, n)
    expected[kept[1], kept[0]] = weight
    masked = graph.masked_adjacency(keep)
    assert 0 < int(keep.sum()) < graph.num_edges
    assert masked._nnz() == graph.num_edges, "the whole graph's structure, dropped edges as zeros"
    assert torch.allclose(masked.to_dense(), expected)
    assert torch.allclose(graph.masked_adjacency(torch.ones_like(keep)).to_dense(), adjacency_matrix(graph).to_dense())


def test_entities_with_one_neighbour_leave_the_graph() -> None:
    export, pairs, _, _ = tiny_world()
    lonely = pd.DataFrame({"id": ["zz:lonely"], "name": ["lonely"], "type": ["actor"]})
    export.nodes["Entity"] = pd.concat([export.nodes["Entity"], lonely], ignore_index=True)
    export.edges[RelKey("ACTOR", "Item", "Entity")] = pd.DataFrame({"src": [3], "dst": [4]})
    kept = build_propagation_graph(export_to_hetero_data(export), min_entity_degree=1)
    pruned = build_propagation_graph(export_to_hetero_data(export), min_entity_degree=2)
    assert kept.space.n_entities == 5 and pruned.space.n_entities == 4
    assert pruned.entity_position.tolist() == [0, 1, 2, 3, -1]
    assert pruned.entity_nodes(torch.tensor([4, 2])).tolist() == [-1, pruned.space.entity_offset + 2]


def test_hetero_data_view_carries_types_text_and_properties() -> None:
    export, pairs, item_text, entity_text = tiny_world()
    data = export_to_hetero_data(export, item_text, entity_text)
    assert set(data.node_types) == {"User", "Item", "Entity"}
    assert ("User", "INTERACTED", "Item") in data.edge_types
    assert ("Item", "IN_GENRE", "Entity") in data.edge_types
    assert data["Item"].x.shape == (12, TEXT_DIM)
    assert data["User", "INTERACTED", "Item"].rating.shape == (pairs.shape[1],)
    data.validate()


# --- the model -----------------------------------------------------------------------------


def _model_and_inputs(seed: int = 0) -> tuple[KGRecModel, object, NodeInputs]:
    export, pairs, item_text, entity_text = tiny_world()
    graph = build_propagation_graph(export_to_hetero_data(export, interactions=pairs))
    space = graph.space
    torch.manual_seed(seed)
    model = KGRecModel(space.n_users, space.n_items, space.n_entities, TEXT_DIM, dim=8, layers=3)
    nodes = NodeInputs(torch.as_tensor(item_text), torch.as_tensor(entity_text[graph.entity_index.numpy()]),
                       torch.arange(space.n_users), torch.arange(space.n_items), torch.arange(space.n_entities))
    return model, graph, nodes


def test_forward_shapes_and_layer_maths() -> None:
    model, graph, nodes = _model_and_inputs()
    n = graph.space.num_nodes
    layers = model(graph, nodes)
    assert len(layers) == 4 and all(layer.shape == (n, 8) for layer in layers)
    dense = adjacency_matrix(graph).to_dense()
    assert torch.allclose(layers[1], dense @ layers[0], atol=1e-5)
    assert torch.allclose(layers[3], dense @ dense @ dense @ layers[0], atol=1e-5)
    assert model.combine(layers).shape == (n, 8)
    # The sampled-subgraph path (LGConv over edge_index) computes the same thing.
    x0 = model.inputs(graph.space, nodes)
    via_conv = model.propagate(x0, edge_index=graph.edge_index, edge_weight=graph.edge_weight)
    assert torch.allclose(via_conv[3], layers[3], atol=1e-5)
    assert "KGRecModel(users=12" in repr(model)


def test_gradients_reach_text_projections_and_id_embeddings() -> None:
    model, graph, nodes = _model_and_inputs()
    model.combine(model(graph, nodes)).pow(2).sum().backward()
    for name in ("user_emb.weight", "item_emb.weight", "entity_emb.weight", "item_proj.weight", "entity_proj.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_id_dropout_leaves_text_only() -> None:
    model, graph, nodes = _model_and_inputs()
    space = graph.space
    keep = torch.zeros(space.num_nodes, dtype=torch.bool)
    x0 = model.inputs(space, nodes, keep)
    assert torch.allclose(x0[: space.n_users], torch.zeros(space.n_users, 8))
    assert torch.allclose(x0[space.items()], model.item_proj(nodes.item_text))
    assert torch.allclose(x0[space.entities()], model.entity_proj(nodes.entity_text))
    cold = NodeInputs(nodes.item_text, nodes.entity_text, torch.full_like(nodes.user_row, -1),
                      torch.full_like(nodes.item_row, -1), torch.full_like(nodes.entity_row, -1))
    assert torch.allclose(model.inputs(space, cold), x0), "a -1 row is the same as a dropped ID"
    # Subset inputs (used with sampled neighbourhoods) agree with the full ones.
    index = torch.tensor([0, space.item_offset + 3, space.entity_offset + 1])
    full = model.inputs(space, nodes)
    assert torch.allclose(model.inputs(space, nodes, index=index), full[index], atol=1e-6)


def test_fold_in_reproduces_a_propagated_user() -> None:
    model, graph, nodes = _model_and_inputs()
    with torch.no_grad():
        layers = model(graph, nodes)
        z = model.combine(layers)
        rowptr, neighbours = graph.user_neighbours()
        x0 = layers[0][: graph.space.n_users]
        folded = model.fold_in(layers, graph.degree, rowptr, neighbours, x0)
    assert torch.allclose(folded, z[: graph.space.n_users], atol=1e-5)


# --- cold start and the Recommender interface -----------------------------------------------


def test_scores_have_the_interface_shape_and_are_finite(fitted: KGRec) -> None:
    queries = [UserQuery(user=0), UserQuery(user=7, liked=[COLD_A]), UserQuery(liked=[1, 2]),
               UserQuery(attributes=[0]), UserQuery(text=np.eye(TEXT_DIM, dtype=np.float32)[1]),
               UserQuery(liked=[6], attributes=[1], text=np.eye(TEXT_DIM, dtype=np.float32)[1])]
    scores = fitted.score(queries)
    assert scores.shape == (len(queries), 12) and scores.device.type == "cpu"
    assert torch.isfinite(scores).all()


def test_warm_users_prefer_their_genre(fitted: KGRec) -> None:
    scores = fitted.score([UserQuery(user=u) for u in range(12)])
    a, b = list(A_ITEMS), list(B_ITEMS)
    assert (scores[: 6, a].mean(1) > scores[: 6, b].mean(1)).all()
    assert (scores[6:, b].mean(1) > scores[6:, a].mean(1)).all()


def test_cold_item_with_only_text_and_kg_edges_ranks_above_unrelated_one(fitted: KGRec) -> None:
    scores = fitted.score([UserQuery(user=u) for u in range(12)])
    assert (scores[: 6, COLD_A] > scores[: 6, COLD_B]).all()
    assert (scores[6:, COLD_B] > scores[6:, COLD_A]).all()


def test_new_users_from_likes_attributes_or_text(fitted: KGRec) -> None:
    text_a = np.eye(TEXT_DIM, dtype=np.float32)[0]
    scores = fitted.score([UserQuery(liked=[0, 1]), UserQuery(attributes=[1]), UserQuery(text=text_a),
                           UserQuery(user=0, liked=[5, 6, 7, 8, 9])])
    a, b = list(A_ITEMS), list(B_ITEMS)
    assert scores[0, a].mean() > scores[0, b].mean()  # liked A films
    assert scores[1, b].mean() > scores[1, a].mean()  # attribute y: B fans
    assert scores[2, a].mean() > scores[2, b].mean()  # text about A
    known = fitted.score([UserQuery(user=0)])
    assert not torch.allclose(scores[3], known[0]), "new likes change a known user's scores"


def test_new_users_are_pulled_towards_their_prior(fitted: KGRec) -> None:
    cold_start = fitted.cold_start
    assert cold_start is not None
    chosen = cold_start.evidence
    query = UserQuery(liked=[0], attributes=[1])
    known = UserQuery(user=0, liked=[5])
    try:
        cold_start.evidence = Evidence()
        own, prior, known_own = fitted.score([query]), fitted.score([UserQuery(attributes=[1])]), fitted.score([known])
        cold_start.evidence = Evidence(items=3.0, anonymous=100.0)
        shrunk, known_shrunk = fitted.score([query]), fitted.score([known])
    finally:
        cold_start.evidence = chosen
    assert not torch.allclose(own, prior)
    assert torch.allclose(shrunk, 0.25 * own + 0.75 * prior, atol=1e-5), "one liked item against c = 3"
    assert torch.equal(known_shrunk, known_own), "a known user's new likes are not shrunk"


def test_the_empty_query_is_the_average_user(fitted: KGRec) -> None:
    scores = fitted.score([UserQuery(), UserQuery(user=0)])[0]
    assert torch.isfinite(scores).all() and scores.std() > 0, "not a list of zeros"
    assert fitted._graph is not None
    popularity = torch.bincount(torch.as_tensor(tiny_data().train[1]), minlength=12).float()
    warm = popularity > 0
    top, bottom = popularity[warm].argmax(), popularity[warm].argmin()
    assert scores[warm][top] > scores[warm][bottom], "the most-liked item above the least-liked"


def test_item_not_in_the_training_export_is_scored_after_refresh() -> None:
    full = tiny_data(n_items=12)
    # Train on an export that ends at item 9: items 10 and 11 arrive later.
    export, pairs, item_text, entity_text = tiny_world(n_items=10)
    rec = KGRec(KGRecConfig(cold_item_rate=0.3), progress=False)
    rec.fit(TrainData(export, full.train, full.valid, item_text, entity_text), SMALL)
    before = rec.score([UserQuery(user=0)])
    assert before.shape == (1, 10)
    started = time.perf_counter()
    rec.refresh(full.export, full.item_text, full.entity_text, interactions=full.train)
    scores = rec.score([UserQuery(user=u) for u in range(12)])
    assert time.perf_counter() - started < 1.0
    assert scores.shape == (12, 12) and torch.isfinite(scores).all()
    assert rec._nodes is not None
    assert rec._nodes.item_row[COLD_A] == -1 and rec._nodes.item_row[COLD_B] == -1
    assert bool((rec._nodes.item_row[np.unique(full.train[1])] >= 0).all()), "known items keep their ID rows"
    assert (scores[: 6, COLD_A] > scores[: 6, COLD_B]).all()
    assert (scores[6:, COLD_B] > scores[6:, COLD_A]).all()


def test_bad_queries_and_text_are_user_errors(fitted: KGRec) -> None:
    with pytest.raises(KgrecError, match="item index 99"):
        fitted.score([UserQuery(liked=[99])])
    export, pairs, item_text, entity_text = tiny_world()
    with pytest.raises(KgrecError, match="dimensions"):
        fitted.refresh(export, item_text[:, :8], entity_text[:, :8])
    with pytest.raises(KgrecError, match="not been trained"):
        KGRec().score([UserQuery(user=0)])


def test_exploration_lets_new_items_rise_and_is_checked(fitted: KGRec) -> None:
    queries = [UserQuery(user=u) for u in range(12)]
    assert fitted.cold_start is not None and 0.0 <= fitted.exploration <= 1.0
    low, high = fitted.score(queries, exploration=0.0), fitted.score(queries, exploration=1.0)
    assert fitted._nodes is not None
    warm = fitted._nodes.item_row >= 0
    assert not warm[COLD_A] and not warm[COLD_B]
    assert torch.equal(low[:, warm], high[:, warm]), "warm items' scores do not depend on it"
    rank = lambda s, item: (s > s[:, [item]]).sum(1)  # noqa: E731
    for item in (COLD_A, COLD_B):
        assert (rank(high, item) <= rank(low, item)).all() and (rank(high, item) < rank(low, item)).any()
    assert torch.equal(fitted.score(queries), fitted.score(queries, exploration=fitted.exploration))
    for bad in (-0.1, 1.5):
        with pytest.raises(KgrecError, match="exploration"):
            fitted.score(queries, exploration=bad)
