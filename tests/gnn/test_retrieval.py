"""Retrieval: the inner-product reduction, FAISS's and Neo4j's HNSW indexes against the exact
scan, exact re-ranking of candidates, and the service answering through each index."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kgrec.app.service import RecommendationService, default_model_dir
from kgrec.gnn.recommender import UserQuery
from kgrec.gnn.retrieval import (CANDIDATES, ExactIndex, FaissIndex, Neo4jIndex, candidate_rows, choose_retrieval, mips_items,
                           mips_queries, recall)
from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphDelta
from kgrec.kg.ingest import ingest
from kgrec.kg.settings import Settings
from conftest import neo4j_settings, open_neo4j
from ui_support import STAR_WARS, settings_for, small_catalog


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    """Vectors around 50 centres with varied norms, like trained item embeddings."""
    centres = np.random.default_rng(0).normal(size=(50, d))
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, 50, n)] + rng.normal(size=(n, d))) * rng.uniform(0.5, 2.0, (n, 1))


def test_the_reduction_keeps_the_inner_product_order() -> None:
    items, users = clustered(500, 16, 0), clustered(8, 16, 1)
    cosine = mips_queries(users) @ mips_items(items).T
    assert np.allclose(np.linalg.norm(mips_items(items), axis=1), 1.0, atol=1e-5)
    assert (np.argsort(-cosine, axis=1)[:, :50] == np.argsort(-(users @ items.T), axis=1)[:, :50]).all()


def test_faiss_recall_against_exact() -> None:
    items, users = clustered(20_000, 32, 2), clustered(200, 32, 3)
    exact = ExactIndex(items).search(users, 20)
    found = FaissIndex(items).search(users, 20 + CANDIDATES)  # what the service retrieves for k = 20
    assert recall(found, exact) >= 0.98
    assert recall(exact[:, :10], exact) == 0.5


def test_choice_by_catalog_size() -> None:
    assert choose_retrieval("auto", 999, 1000, "embedded") == "exact"
    assert choose_retrieval("auto", 1000, 1000, "embedded") == "faiss"
    assert choose_retrieval("auto", 1000, 1000, "neo4j") == "neo4j"
    assert choose_retrieval("exact", 10**7, 1000, "neo4j") == "exact"
    with pytest.raises(KgrecError, match="KGREC_RETRIEVAL"):
        Settings.from_env(environ={"KGREC_RETRIEVAL": "annoy"}, home=Path("/tmp/x"))
    with pytest.raises(KgrecError, match="neo4j store"):
        Settings.from_env(environ={"KGREC_RETRIEVAL": "neo4j"}, home=Path("/tmp/x"))
    assert Settings.from_env(environ={"KGREC_ANN_MIN_ITEMS": "10"}, home=Path("/tmp/x")).ann_min_items == 10


def test_candidate_rows_pad_and_add_new_items() -> None:
    rows = candidate_rows([np.array([3, -1, 1]), np.array([2])], np.array([9]))
    assert rows.tolist() == [[1, 3, 9], [2, 9, 2]]


@pytest.fixture(scope="module")
def service(trained: Path) -> Iterator[RecommendationService]:
    opened = RecommendationService(settings_for(trained))
    yield opened
    opened.close()


def test_candidates_are_scored_exactly_as_the_whole_row(service: RecommendationService) -> None:
    """The fusion's standardisation over all warm items, from their sum and Gram matrix."""
    model = service.state.model
    assert model.cold_start is not None  # the blend, not the bare dot product
    queries = [UserQuery(user=0), UserQuery(liked=tuple(range(5)), attributes=(0,)), UserQuery(user=3, liked=(7,))]
    full = model.score(queries).numpy()
    rng = np.random.default_rng(0)
    candidates = np.stack([rng.choice(full.shape[1], 40, replace=False) for _ in queries])
    part = model.score(queries, candidates=torch.as_tensor(candidates)).numpy()
    assert np.allclose(part, np.take_along_axis(full, candidates, axis=1), atol=1e-4)


def test_the_service_through_faiss_matches_the_exact_scan(trained: Path, service: RecommendationService) -> None:
    users = [str(u) for u in service.state.user_ids[:100]]
    requests = [{"id": u, "user_id": u} for u in users] + [{"liked": list(STAR_WARS)}, {"text": "space opera"}]
    exact = service.recommend(requests)
    ann = RecommendationService(replace(settings_for(trained), retrieval="faiss"))
    try:
        assert ann.state.index is not None and ann.state.index.kind == "faiss"
        found = ann.recommend(requests)
        shares = [len({i["item_id"] for i in a["items"]} & {i["item_id"] for i in e["items"]}) / len(e["items"])
                  for a, e in zip(found, exact)]
        assert np.mean(shares) >= 0.95
        for a, e in zip(found, exact):  # the same scores where the same items are found
            scores = {i["item_id"]: i["score"] for i in e["items"]}
            assert all(abs(scores[i["item_id"]] - i["score"]) < 1e-3 for i in a["items"] if i["item_id"] in scores)
        user = users[0]
        seen = {str(ann.item_ids[i]) for i in ann.seen[ann.user_index[user]]}
        [answer] = ann.recommend([{"user_id": user, "k": 30}])
        assert len(answer["items"]) == 30 and not seen & {i["item_id"] for i in answer["items"]}
        some = [str(i) for i in ann.item_ids if str(i) not in seen][:5]
        [named] = ann.recommend([{"user_id": user, "candidates": some, "exclude": some[:1]}])
        assert sorted(i["item_id"] for i in named["items"]) == sorted(some[1:])
    finally:
        ann.close()


@pytest.fixture(scope="module")
def neo4j_home(trained: Path, ml100k_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The trained home's catalog ingested into the test Neo4j, served by its model."""
    root = tmp_path_factory.mktemp("neo4j-retrieval")
    store = open_neo4j(root)
    store.clear()
    settings = neo4j_settings(root).with_(device="cpu")
    ingest(small_catalog(ml100k_catalog), store, settings, progress=False)
    store.close()
    yield settings
    store = open_neo4j(root)
    store.clear()
    store.close()


def test_the_neo4j_vector_index(tmp_path: Path) -> None:
    store = open_neo4j(tmp_path)
    try:
        store.clear()
        ids = [f"i{n}" for n in range(5_000)]
        store.load(GraphDelta(nodes={"Item": pd.DataFrame({"id": ids, "title": ids})}))
        vectors, users = clustered(len(ids), 32, 5).astype(np.float32), clustered(100, 32, 6).astype(np.float32)
        version = store.version()
        index = Neo4jIndex(store, ids, vectors)
        assert store.version() == version  # derived data: serving replicas do not refresh for it
        token = store.vectors_token()
        exact = ExactIndex(vectors).search(users, 20)
        assert recall(index.search(users, 20 + CANDIDATES), exact) >= 0.98  # what the service retrieves for k = 20
        Neo4jIndex(store, ids, vectors)
        assert store.vectors_token() == token
        smaller = Neo4jIndex(store, ids, vectors[:, :8])  # another model: another dimension
        assert store.vectors_token() != token
        assert recall(smaller.search(users[:, :8], 20 + CANDIDATES), ExactIndex(vectors[:, :8]).search(users[:, :8], 20)) >= 0.98
    finally:
        store.clear()
        store.close()


def test_the_service_through_the_neo4j_index(neo4j_home: Settings, trained: Path) -> None:
    model_dir = default_model_dir(settings_for(trained))
    exact = RecommendationService(neo4j_home.with_(retrieval="exact"), model_dir=model_dir)
    ann = RecommendationService(neo4j_home.with_(retrieval="neo4j"), model_dir=model_dir)
    try:
        assert ann.state.index is not None and ann.state.index.kind == "neo4j"
        requests = [{"user_id": str(u)} for u in exact.state.user_ids[:50]] + [{"liked": list(STAR_WARS)}]
        shares = [len({i["item_id"] for i in a["items"]} & {i["item_id"] for i in e["items"]}) / len(e["items"])
                  for a, e in zip(ann.recommend(requests), exact.recommend(requests))]
        assert np.mean(shares) >= 0.95
    finally:
        ann.close()
        exact.close()


def test_auto_retrieval_uses_the_index_above_the_threshold(trained: Path) -> None:
    settings = replace(settings_for(trained), ann_min_items=1)
    opened = RecommendationService(settings)
    try:
        assert opened.state.index is not None and opened.state.index.kind == "faiss"
    finally:
        opened.close()
