"""How the explainer ranks real paths: by the first-order share of the item's score that
rests on each path's edges, weighted by how specific the connecting nodes are; and how it
tells them (no raw id). The model is replaced by fixed embeddings (this tests the ranking
around it); the paths come from each real store."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from kgrec.app.explain import Explainer, NodeNames
from kgrec.kg.graph import NodeRef
from kgrec.kg.store.base import GraphStore
from conftest import FIXTURES
from helpers import ingest_folder

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
        # Both join 2 of the 4 items: specificity log(4 / 2) / log(4) = 0.5.
        assert explainer.specificity(NodeRef("Entity", middle)) == pytest.approx(0.5)
        assert explanation.score == pytest.approx((anchor + item_side) * 0.5)
    assert paths[0].sentence == "You liked *Heat*; *Collateral* has the same director, Michael Mann."


def test_a_whole_list_is_explained_at_once_for_a_new_user(explainer: Explainer) -> None:
    collateral, alien, heat = explainer.explain(["collateral", "alien", "heat"], USER_VECTOR, liked=["heat"], limit=1)
    assert [[n.id for n in e.path.nodes] for e in collateral] == [["heat", "mann", "collateral"]]
    assert alien == []  # no path of at most two hops from Heat
    assert heat == []  # an item does not explain itself
    assert explainer.explain([], USER_VECTOR, liked=["heat"]) == []
    assert explainer.explain(["collateral"], USER_VECTOR) == [[]]


def test_a_hub_explains_less_than_a_specific_node(explainer: Explainer) -> None:
    specific = explainer.specificity(NodeRef("Entity", "mann"))  # 2 of 4 items
    assert explainer.specificity(NodeRef("Item", "heat")) == 1.0
    assert explainer.specificity(NodeRef("Entity", "chicago")) == 1.0  # joins no item directly
    assert explainer._weighted(1.0, [NodeRef("Entity", "mann")]) == pytest.approx(specific)
    assert explainer._weighted(-1.0, [NodeRef("Entity", "mann")]) == -1.0  # a negative share stays last


def test_an_entity_known_only_by_a_code_is_told_by_what_it_joins(store: GraphStore, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    folder = tmp_path / "tiny"
    shutil.copytree(FIXTURES / "tiny", folder)
    entities = (folder / "entities.csv").read_text().replace("mann,Michael Mann,director", "m.0bxtg,,director")
    (folder / "entities.csv").write_text(entities)
    (folder / "triples.csv").write_text((folder / "triples.csv").read_text().replace("mann", "m.0bxtg"))
    ingest_folder(folder, store, settings)
    names = NodeNames(store.export())
    director = NodeRef("Entity", "m.0bxtg")
    assert not names.named(director) and names.named(NodeRef("Entity", "genre:crime"))
    assert names.name(director) in ("director of Heat and 1 more", "director of Collateral and 1 more")
    explainer = Explainer(store, names, embed, lambda node: len(store.neighbours(node)), list(store.counts().types))
    [paths] = explainer.explain(["collateral"], USER_VECTOR, "1", liked=["heat"])
    sentences = [e.sentence for e in paths]
    assert "You liked *Heat*; *Collateral* shares a director with it." in sentences
    assert not [s for s in sentences if "m.0bxtg" in s]


def test_a_hub_path_is_shown_only_when_nothing_else_joins(explainer: Explainer) -> None:
    """A genre joining 3 of the 4 items is a hub (specificity 0.21 < 0.4): the director's
    path is shown instead; with no director, the hub's path is the one explanation."""
    explainer.names.reach[NodeRef("Entity", "genre:crime")] = (3, 4)
    assert explainer.specificity(NodeRef("Entity", "genre:crime")) == pytest.approx(np.log(4 / 3) / np.log(4))
    [paths] = explainer.explain(["collateral"], USER_VECTOR, "1", liked=["heat"])
    assert [[n.id for n in e.path.nodes] for e in paths] == [["1", "heat", "mann", "collateral"]]
    explainer.names.reach[NodeRef("Entity", "mann")] = (3, 4)
    [paths] = explainer.explain(["collateral"], USER_VECTOR, "1", liked=["heat"])
    assert len(paths) == 1
