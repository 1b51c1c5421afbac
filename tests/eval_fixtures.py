"""Small synthetic graphs for the evaluation tests (splits, baselines, evaluate)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kgrec.kg.graph import GraphExport
from kgrec.kg.identifiers import INTERACTIONS, USER_ATTRIBUTES



def make_export(pairs: np.ndarray, n_users: int, n_items: int, ts: np.ndarray | None = None, attributes: np.ndarray | None = None, n_entities: int = 2) -> GraphExport:
    """An export with users ``u000..``, items ``i000..`` (ids sort like indices) and the
    given (user, item) interactions."""
    pairs = np.asarray(pairs, dtype=np.int64)
    order = np.lexsort((pairs[1], pairs[0]))
    pairs = pairs[:, order]
    ts = np.arange(pairs.shape[1], dtype=float) if ts is None else np.asarray(ts, float)[order]
    items = pd.DataFrame({"id": [f"i{i:03d}" for i in range(n_items)], "title": [f"item {i}" for i in range(n_items)], "description": ""})
    users = pd.DataFrame({"id": [f"u{u:03d}" for u in range(n_users)]})
    entities = pd.DataFrame({"id": [f"e{e:03d}" for e in range(n_entities)], "name": [f"entity {e}" for e in range(n_entities)], "type": "attribute"})
    edges = {INTERACTIONS: pd.DataFrame({"src": pairs[0], "dst": pairs[1], "rating": 4.0, "ts": ts})}
    if attributes is not None:
        edges[USER_ATTRIBUTES] = pd.DataFrame({"src": attributes[0], "dst": attributes[1]})
    return GraphExport(nodes={"Item": items, "User": users, "Entity": entities}, edges=edges)


def random_export(n_users: int = 40, n_items: int = 30, per_user: int = 10, seed: int = 0) -> GraphExport:
    rng = np.random.default_rng(seed)
    pairs = [(u, i) for u in range(n_users) for i in rng.choice(n_items, size=per_user, replace=False)]
    ts = rng.integers(0, 1000, size=len(pairs))
    attrs = np.array([[u for u in range(n_users)], [u % 2 for u in range(n_users)]])
    return make_export(np.array(pairs).T, n_users, n_items, ts=ts, attributes=attrs)


def clustered_export(n_users: int = 60, n_items: int = 40, clusters: int = 4, per_user: int = 8, seed: int = 0) -> tuple[GraphExport, np.ndarray]:
    """Users and items in ``clusters`` groups; users interact only within their group.
    Returns the export and each item's group."""
    rng = np.random.default_rng(seed)
    item_group = np.arange(n_items) % clusters
    pairs = []
    for u in range(n_users):
        group_items = np.flatnonzero(item_group == u % clusters)
        for i in rng.choice(group_items, size=min(per_user, len(group_items)), replace=False):
            pairs.append((u, i))
    return make_export(np.array(pairs).T, n_users, n_items, ts=rng.integers(0, 1000, len(pairs))), item_group
