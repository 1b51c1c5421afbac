"""kgrec.kg.to_graph: a validated catalog becomes the nodes and relationships a store loads."""
from __future__ import annotations

import math

import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.graph import RelKey
from kgrec.kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kgrec.kg.to_graph import catalog_to_delta, properties


def catalog() -> Catalog:
    return Catalog(
        items=pd.DataFrame({"item_id": ["heat", "alien"], "title": ["Heat", "Alien"], "description": ["", "In space."], "year": ["1995", ""]}),
        interactions=pd.DataFrame({"user_id": ["1", "7"], "item_id": ["heat", "alien"], "rating": [5.0, float("nan")], "timestamp": [10.0, 20.0]}),
        users=pd.DataFrame({"user_id": ["1"], "gender": ["female"], "age": [""]}),
        triples=pd.DataFrame({"head": ["heat", "heat"], "relation": ["DIRECTED_BY", "SIMILAR_TO"], "tail": ["mann", "alien"],
                              "head_label": [ITEM, ITEM], "tail_label": [ENTITY, ITEM]}),
        entities=pd.DataFrame({"entity_id": ["genre:crime"], "name": ["Crime"], "type": ["genre"]}),
    )


def test_every_node_is_there_once_with_empty_fields_as_missing() -> None:
    delta = catalog_to_delta(catalog())
    items = delta.nodes[ITEM].set_index("id")
    assert list(items.index) == ["heat", "alien"]
    assert items.loc["heat", "description"] is None and items.loc["alien", "year"] is None
    assert sorted(delta.nodes[USER]["id"]) == ["1", "7"], "a user known only from an interaction becomes a node"
    entities = delta.nodes[ENTITY].set_index("id")
    assert set(entities.index) == {"genre:crime", "mann", "attr:gender:female"}
    assert entities.loc["mann", "name"] is None, "an entity implied by a triple carries no name (it never overwrites one)"
    assert entities.loc["attr:gender:female", ["name", "type"]].tolist() == ["female", "gender"]


def test_relationships_are_grouped_by_type_and_labels() -> None:
    delta = catalog_to_delta(catalog())
    interactions = delta.rels[RelKey(INTERACTED, USER, ITEM)]
    assert interactions[["src", "dst"]].values.tolist() == [["1", "heat"], ["7", "alien"]]
    assert interactions["rating"].iloc[0] == 5.0 and math.isnan(interactions["rating"].iloc[1])
    assert delta.rels[RelKey(HAS_ATTRIBUTE, USER, ENTITY)].values.tolist() == [["1", "attr:gender:female"]], "empty attributes make no edge"
    assert delta.rels[RelKey("DIRECTED_BY", ITEM, ENTITY)].values.tolist() == [["heat", "mann"]]
    assert delta.rels[RelKey("SIMILAR_TO", ITEM, ITEM)].values.tolist() == [["heat", "alien"]]


def test_properties_leave_out_keys_and_missing_values() -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "title": ["A", None], "score": [1.5, float("nan")]})
    assert properties(frame, ("id",)) == [{"title": "A", "score": 1.5}, {}]
    assert properties(frame[["id"]], ("id",)) == [{}, {}]
