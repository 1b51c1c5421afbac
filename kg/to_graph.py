"""Turn a validated catalog into the nodes and relationships a store loads."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.graph import GraphDelta, RelKey
from kgrec.kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kgrec.kg.validate import attribute_entity_id


def catalog_to_delta(catalog: Catalog) -> GraphDelta:
    """Items, users and entities (listed, implied by triples, and user attribute values) as
    nodes; interactions, attributes and triples as relationships grouped by type and labels.

    Entities implied by a triple carry no properties, so loading them never overwrites the
    name of an entity already in the store; readers fall back to the id for a missing name.
    """
    delta = GraphDelta()
    items = catalog.items.rename(columns={"item_id": "id"})
    delta.nodes[ITEM] = items.replace({"": None})
    users = catalog.users.rename(columns={"user_id": "id"})
    known_users = set(users["id"])
    extra_users = sorted(set(catalog.interactions["user_id"]) - known_users)
    if extra_users:
        users = pd.concat([users, pd.DataFrame({"id": extra_users})], ignore_index=True)
    delta.nodes[USER] = users.replace({"": None})

    attributes = _attribute_edges(catalog.users)
    listed = catalog.entities.rename(columns={"entity_id": "id"})
    implied = pd.concat([
        catalog.triples.loc[catalog.triples["head_label"] == ENTITY, "head"],
        catalog.triples.loc[catalog.triples["tail_label"] == ENTITY, "tail"],
    ]).drop_duplicates()
    implied = implied[~implied.isin(set(listed["id"]))]
    entity_frames = [listed, pd.DataFrame({"id": implied.to_numpy()}), attributes[["dst", "name", "type"]].rename(columns={"dst": "id"})]
    entities = pd.concat(entity_frames, ignore_index=True).drop_duplicates("id")
    delta.nodes[ENTITY] = entities.astype(object).where(entities.notna(), None)

    interactions = catalog.interactions
    delta.rels[RelKey(INTERACTED, USER, ITEM)] = pd.DataFrame({
        "src": interactions["user_id"].to_numpy(),
        "dst": interactions["item_id"].to_numpy(),
        "rating": interactions["rating"].to_numpy(dtype=float),
        "ts": interactions["timestamp"].to_numpy(dtype=float),
    })
    if len(attributes):
        delta.rels[RelKey(HAS_ATTRIBUTE, USER, ENTITY)] = attributes[["src", "dst"]]
    triples = catalog.triples
    for (relation, head_label, tail_label), group in triples.groupby(["relation", "head_label", "tail_label"], sort=True):
        delta.rels[RelKey(relation, head_label, tail_label)] = pd.DataFrame(
            {"src": group["head"].to_numpy(), "dst": group["tail"].to_numpy()}
        )
    return delta


def _attribute_edges(users: pd.DataFrame) -> pd.DataFrame:
    """One row per non-empty user attribute value: src user, dst attribute entity, its name and type."""
    columns = [c for c in users.columns if c != "user_id"]
    if not columns or users.empty:
        return pd.DataFrame(columns=["src", "dst", "name", "type"])
    long = users.melt(id_vars="user_id", value_vars=columns, var_name="type", value_name="name")
    long = long[long["name"].notna() & (long["name"].astype(str) != "")]
    dst = [attribute_entity_id(t, v) for t, v in zip(long["type"], long["name"])]
    return pd.DataFrame({"src": long["user_id"].to_numpy(), "dst": dst, "name": long["name"].astype(str).to_numpy(), "type": long["type"].to_numpy()})


def properties(frame: pd.DataFrame, key_columns: tuple[str, ...]) -> list[dict[str, object]]:
    """Per row, the non-null properties other than ``key_columns``, as plain Python values."""
    columns = [c for c in frame.columns if c not in key_columns]
    if not columns:
        return [{} for _ in range(len(frame))]
    values = {c: frame[c].tolist() for c in columns}
    rows = []
    for i in range(len(frame)):
        row = {}
        for c in columns:
            v = values[c][i]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            row[c] = v
        rows.append(row)
    return rows
