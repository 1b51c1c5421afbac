"""What the service answers from, and how events and new items change it without a reload.

A :class:`ServingState` is never changed once built: an event or a new item makes a new
state from the current one (copying only the small per-user and per-item tables it
touches), and the service swaps its one reference to it. A reader takes that reference
once per request, so it never sees half of a change.

- **Built** (:func:`build_state`) from a whole export of the store: the model folds the
  graph in once (``KGRec.refresh``); everything is exact.
- **An event** (:func:`with_events`; a user interacted with an item): the item joins the
  user's seen set (never recommended again) and neighbour list, the user's vector is folded
  in again from the cached layers (``KGRec.user_embeddings``), the item's popularity and
  degrees grow. A user the model does not know is created, folded in from their items.
- **A new item** (:func:`with_items`): its vector is folded in from its text and the cached
  layers of the entities and items it links to (``KGRec.fold_in_items``), and it is
  appended to the served items.

Items added since the last build are recommendable and can be liked, but do not yet carry
signal into the vectors of the users who liked them (they have no layers to fold in); the
next build (a background refresh) includes them exactly.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from kgrec.app.explain import NodeNames
from kgrec.app.user_items import UserItems
from kgrec.gnn.inference import AddedItems, KGRec
from kgrec.gnn.pairs import popularity
from kgrec.gnn.retrieval import ItemIndex
from kgrec.gnn.recommender import UserQuery
from kgrec.kg.catalog import Catalog
from kgrec.kg.graph import GraphExport, RelKey
from kgrec.kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_text_features
from kgrec.text.sentences import item_sentences


@dataclass(frozen=True)
class ServingState:
    """Served items, users and entities by position; the first ``model_items`` items and
    ``model_users`` users are the model's own (its export rows), later ones were added."""

    model: KGRec
    export: GraphExport
    item_ids: np.ndarray
    item_index: dict[str, int]
    item_vectors: np.ndarray
    """``(items, d)`` float32: the final embedding each item is scored with."""
    model_items: int
    user_ids: list[str]
    user_index: dict[str, int]
    model_users: int
    entity_ids: list[str]
    entity_index: dict[str, int]
    seen: UserItems
    """Per user, the items they interacted with (positions)."""
    user_attributes: UserItems
    popularity: np.ndarray
    names: NodeNames
    degrees: dict[str, np.ndarray]
    kg_types: tuple[str, ...]
    fresh_likes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    """Per user, the model's items they interacted with since the build."""
    user_vectors: dict[int, np.ndarray] = field(default_factory=dict)
    """Per user changed since the build, the vector folded in with their fresh likes."""
    added: AddedItems | None = None
    """The items added since the build, as the model scores them (None: none)."""
    index: ItemIndex | None = None
    """The approximate index candidates are retrieved from (:mod:`kgrec.gnn.retrieval`) over the
    first ``model_items`` items; None: every item is scored."""
    built_at: float = field(default_factory=time.time)
    changes: int = 0
    """Events and items applied since the build."""

    def model_query(self, user: int | None, liked: Sequence[int] = (), attributes: Sequence[int] = (),
                    text: np.ndarray | None = None) -> UserQuery:
        """The model's query for a served user (or None) with extra likes: the user's fresh
        likes join the request's, items added since the build are left out (no layers)."""
        extra = self.fresh_likes.get(user, ()) if user is not None else ()
        known = tuple(dict.fromkeys(i for i in (*extra, *liked) if i < self.model_items))
        model_user = user if user is not None and user < self.model_users else None
        return UserQuery(user=model_user, liked=known, attributes=tuple(attributes), text=text)

    def has_signal(self, user: int) -> bool:
        """Whether a user can be scored: known to the model, or with fresh likes of its items."""
        return user < self.model_users or bool(self.fresh_likes.get(user))


def build_state(model: KGRec, export: GraphExport, encoder: TextEncoder, progress: bool = False) -> ServingState:
    """A state over a whole export; ``model`` is copied, not changed (a reader of an older
    state keeps the tensors it started with)."""
    features = node_text_features(export, encoder, progress=progress)
    model = copy.copy(model)
    model.refresh(export, features[ITEM], features[ENTITY])
    item_ids = np.asarray(export.ids(ITEM), dtype=object)
    pairs = export.edge_index(RelKey(INTERACTED, USER, ITEM)) if RelKey(INTERACTED, USER, ITEM) in export.edges \
        else np.zeros((2, 0), int)
    return ServingState(
        model=model,
        export=export,
        item_ids=item_ids,
        item_index=export.index(ITEM),
        item_vectors=model.item_embeddings().numpy(),
        model_items=len(item_ids),
        user_ids=export.ids(USER),
        user_index=export.index(USER),
        model_users=len(export.ids(USER)),
        entity_ids=export.ids(ENTITY),
        entity_index=export.index(ENTITY),
        seen=_neighbours(export, INTERACTED, ITEM),
        user_attributes=_neighbours(export, HAS_ATTRIBUTE, ENTITY),
        popularity=popularity(pairs, len(item_ids)).astype(float),
        names=NodeNames(export),
        degrees=_degrees(export),
        kg_types=tuple(key.type for key in export.edges),
    )


def with_events(state: ServingState, events: Sequence[tuple[str, str]]) -> tuple[ServingState, int]:
    """The state after ``(user_id, item_id)`` interactions that the store now holds, and how
    many of them it could not apply (an item it does not serve yet: the next build will)."""
    user_ids, user_index = state.user_ids, state.user_index
    seen: dict[int, np.ndarray] = {}  # the users whose items change, all of their items
    fresh = dict(state.fresh_likes)
    popularity = state.popularity.copy()
    degrees = {USER: state.degrees[USER], ITEM: state.degrees[ITEM].copy()}
    touched: set[int] = set()
    unserved = 0
    for user_id, item_id in events:
        item = state.item_index.get(item_id)
        if item is None:
            unserved += 1
            continue
        user = user_index.get(user_id)
        if user is None:
            if user_ids is state.user_ids:
                user_ids, user_index = list(user_ids), dict(user_index)
            user = user_index[user_id] = len(user_ids)
            user_ids.append(user_id)
        have = seen[user] if user in seen else state.seen.get(user)
        if item in have:
            continue  # a rating changed: nothing the model reads
        seen[user] = np.append(have, item)
        popularity[item] += 1
        degrees[ITEM][item] += 1
        if item < state.model_items:
            fresh[user] = (*fresh.get(user, ()), item)
        touched.add(user)
    degrees[USER] = np.concatenate([state.degrees[USER], np.zeros(len(user_ids) - len(state.degrees[USER]), np.int64)])
    for user in touched:
        degrees[USER][user] = len(seen[user]) + len(state.user_attributes.get(user))
    changed = replace(state, user_ids=user_ids, user_index=user_index, seen=state.seen.with_changes(seen),
                      fresh_likes=fresh,
                      popularity=popularity, degrees={**state.degrees, **degrees},
                      export=_with_nodes(state.export, USER, user_ids[len(state.user_ids):], {}),
                      changes=state.changes + len(events))
    scored = sorted(u for u in touched if changed.has_signal(u))
    vectors = dict(state.user_vectors)
    if scored:
        folded = state.model.user_embeddings([changed.model_query(u) for u in scored]).numpy()
        vectors.update(zip(scored, folded))
    return replace(changed, user_vectors=vectors), unserved


def with_items(state: ServingState, catalog: Catalog, encoder: TextEncoder) -> ServingState:
    """The state after the validated ``catalog`` (new items and their triples) was written:
    each item folded in from its text and its neighbours' cached layers."""
    items = catalog.items.rename(columns={"item_id": "id"})
    items = items[~items["id"].isin(state.item_index.keys())]  # applied again after a refresh: no-op
    if items.empty:
        return state
    triples = catalog.triples
    triples = triples[triples["head"].isin(set(items["id"])) | triples["tail"].isin(set(items["id"]))]
    new_ids = items["id"].tolist()
    # The new items and the entities they link to, as a small export: their sentences
    # come out as a whole refresh would write them.
    linked = pd.concat([triples.loc[triples["head_label"] == ENTITY, "head"],
                        triples.loc[triples["tail_label"] == ENTITY, "tail"]]).drop_duplicates().tolist()
    entities = state.export.nodes[ENTITY]
    known = entities[entities["id"].isin(set(linked))]
    implied = pd.DataFrame({"id": [e for e in linked if e not in state.entity_index], "name": None, "type": "entity"})
    small_entities = pd.concat([known, implied], ignore_index=True)
    small = GraphExport(nodes={ITEM: items.reset_index(drop=True), ENTITY: small_entities},
                        edges=_small_edges(triples, {i: n for n, i in enumerate(new_ids)},
                                           {e: n for n, e in enumerate(small_entities["id"])}))
    text = encoder.encode(item_sentences(small), progress=False)
    neighbours: list[list[tuple[str, int]]] = [[] for _ in new_ids]
    position = {i: n for n, i in enumerate(new_ids)}
    for head, tail, head_label, tail_label in zip(triples["head"], triples["tail"], triples["head_label"], triples["tail_label"]):
        for own, other, other_label in ((head, tail, tail_label), (tail, head, head_label)):
            if own in position and own != other:
                row = (state.entity_index if other_label == ENTITY else state.item_index).get(other)
                if row is not None and (other_label == ENTITY or row < state.model_items):
                    neighbours[position[own]].append((other_label, row))
    folded = state.model.fold_in_items(text, neighbours)
    vectors = folded.vectors.numpy()
    item_index = dict(state.item_index)
    item_index.update((item_id, len(state.item_ids) + n) for n, item_id in enumerate(new_ids))
    names = copy.copy(state.names)
    names.items = {**state.names.items, **dict(zip(map(str, new_ids), items["title"].astype(str)))}
    names.entities = {**state.names.entities, **{e: e for e in implied["id"]}}
    degree = np.zeros(len(new_ids), np.int64)
    for own in (*triples["head"], *triples["tail"]):
        if own in position:
            degree[position[own]] += 1
    return replace(
        state,
        export=_with_nodes(state.export, ITEM, new_ids, {c: items[c].tolist() for c in items.columns if c != "id"}),
        item_ids=np.concatenate([state.item_ids, np.asarray(new_ids, dtype=object)]),
        item_index=item_index,
        item_vectors=np.concatenate([state.item_vectors, vectors.astype(state.item_vectors.dtype)]),
        added=folded if state.added is None else state.added + folded,
        popularity=np.concatenate([state.popularity, np.zeros(len(new_ids))]),
        names=names,
        degrees={**state.degrees, ITEM: np.concatenate([state.degrees[ITEM], degree])},
        changes=state.changes + len(new_ids),
    )


def _small_edges(triples: pd.DataFrame, items: dict[str, int], entities: dict[str, int]) -> dict[RelKey, pd.DataFrame]:
    """Item-entity triples of the new items as export edges (positions in the small export)."""
    edges: dict[RelKey, pd.DataFrame] = {}
    rows = {ITEM: items, ENTITY: entities}
    for (relation, head_label, tail_label), group in triples.groupby(["relation", "head_label", "tail_label"]):
        keep = group["head"].isin(rows[head_label].keys()) & group["tail"].isin(rows[tail_label].keys())
        if keep.any() and {head_label, tail_label} == {ITEM, ENTITY}:
            edges[RelKey(relation, head_label, tail_label)] = pd.DataFrame({
                "src": group.loc[keep, "head"].map(rows[head_label]).to_numpy(np.int64),
                "dst": group.loc[keep, "tail"].map(rows[tail_label]).to_numpy(np.int64)})
    return edges


def _with_nodes(export: GraphExport, label: str, ids: Sequence[str], columns: dict[str, list[object]]) -> GraphExport:
    """The export with nodes appended to ``label`` (the app's pickers and search read it);
    positions of the nodes already there do not move, so its edges stay valid."""
    if not ids:
        return export
    frame = pd.concat([export.nodes[label], pd.DataFrame({"id": list(ids), **columns})], ignore_index=True)
    return GraphExport(nodes={**export.nodes, label: frame}, edges=export.edges)


def _degrees(export: GraphExport) -> dict[str, np.ndarray]:
    """Relationships per node, by label and export row."""
    degrees = {label: np.zeros(len(frame), dtype=np.int64) for label, frame in export.nodes.items()}
    for key, frame in export.edges.items():
        degrees[key.src] += np.bincount(frame["src"].to_numpy(np.int64), minlength=len(degrees[key.src]))
        degrees[key.dst] += np.bincount(frame["dst"].to_numpy(np.int64), minlength=len(degrees[key.dst]))
    return degrees


def _neighbours(export: GraphExport, rel_type: str, dst_label: str) -> UserItems:
    key = RelKey(rel_type, USER, dst_label)
    pairs = export.edge_index(key) if key in export.edges else np.zeros((2, 0), np.int64)
    return UserItems.from_pairs(pairs, len(export.nodes[USER]) if USER in export.nodes else 0)
