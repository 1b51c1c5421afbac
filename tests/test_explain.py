"""How the explainer ranks real paths: by the first-order share of the item's score that
rests on each path's edges. The model is replaced by fixed embeddings (this tests the
ranking around it); the paths come from each real store."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from app.explain import Explainer, NodeNames
from kg.graph import NodeRef
from kg.store.base import GraphStore
from tests.conftest import FIXTURES
from tests.helpers import ingest_folder

USER_VECTOR = np.array([0.0, 1.0])
EMBEDDINGS = {
    NodeRef("Item", "heat"): [1.0, 0.0],
    NodeRef("Item", "toy"): [0.2, 0.0],
    NodeRef("Item", "collateral"): [2.0, 0.0],
    NodeRef("Item", "alien"): [0.0, 0.0],
    NodeRef("Entity", "mann"): [0.0, 3.0],
    NodeRef("Entity", "genre:crime"): [0.0, 1.0],
    NodeRef("Entity", "age:25-34"): [0.1, 0.0],
    NodeRef("Entity", "gender:female"): [0.1, 0.0],
}


def embed(nodes: Sequence[NodeRef]) -> np.ndarray:
    return np.array([EMBEDDINGS.get(n, [0.0, 0.0]) for n in nodes])


@pytest.fixture
def explainer(store: GraphStore, settings) -> Explainer:  # type: ignore[no-untyped-def]
    ingest_folder(FIXTURES / "tiny", store, settings)
    def degree(node: NodeRef) -> int:
        return len(store.neighbours(node))

    return Explainer(store, NodeNames(store.export()), embed, degree, list(store.counts().types))


def test_paths_are_ranked_by_their_first_order_share_of_the_score(explainer: Explainer, store: GraphStore) -> None:
    [paths] = explainer.explain(["collateral"], USER_VECTOR, "1", liked=["heat", "toy"], attributes=["age:25-34"])
    assert [[n.id for n in e.path.nodes] for e in paths] == [["1", "heat", "mann", "collateral"], ["1", "heat", "genre:crime", "collateral"]]
    degree = {n: len(store.neighbours(NodeRef(*n))) for n in [("User", "1"), ("Item", "heat"), ("Item", "collateral"),
                                                               ("Entity", "mann"), ("Entity", "genre:crime")]}
    anchor = 1.0 * 2.0 / np.sqrt(degree["Item", "heat"] * degree["User", "1"])
    for explanation, middle in zip(paths, ["mann", "genre:crime"]):
        item_side = EMBEDDINGS[NodeRef("Entity", middle)][1] / np.sqrt(degree["Entity", middle] * degree["Item", "collateral"])
        assert explanation.score == pytest.approx(anchor + item_side)
    assert paths[0].sentence == "You liked *Heat*; *Collateral* has the same director, Michael Mann."


def test_a_whole_list_is_explained_at_once_for_a_new_user(explainer: Explainer) -> None:
    collateral, alien, heat = explainer.explain(["collateral", "alien", "heat"], USER_VECTOR, liked=["heat"], limit=1)
    assert [[n.id for n in e.path.nodes] for e in collateral] == [["heat", "mann", "collateral"]]
    assert alien == []  # no path of at most two hops from Heat
    assert heat == []  # an item does not explain itself
    assert explainer.explain([], USER_VECTOR, liked=["heat"]) == []
    assert explainer.explain(["collateral"], USER_VECTOR) == [[]]
