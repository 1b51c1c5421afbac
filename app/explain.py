"""Explanations: real paths of at most three hops through the graph store, from the user to
a recommended item, ranked by the model, each told as a sentence and drawn as a small graph.

Which paths: the user's own interactions and attribute entities are the anchors (for a new
user, the liked items and attributes of the request). The best few anchors are joined to the
item by the store's own path query of at most two hops (Cypher on Neo4j, the same
semantics on the embedded store), the queries of a whole recommendation list in one
request. For a known user the path starts at the :User node with the real INTERACTED or
HAS_ATTRIBUTE relationship to the anchor, so it has at most three hops and every hop is in
the store; for a new user it starts at the liked item or attribute.

How they are ranked: by how much of the item's score rests on the path, estimated to first
order from the model. The model propagates embeddings LightGCN-style (each edge carries
``1 / sqrt(deg(a) deg(b))``) and scores ``user . item``, so removing the user's edge to an
anchor ``a`` lowers the score by about ``(a . item) / sqrt(deg(a) deg(user))``, and removing
the item's edge to the node ``m`` before it on the path by about
``(m . user) / sqrt(deg(m) deg(item))`` (final embeddings). A path's score is the sum of
the two; anchors are chosen by the first. A hub (a country half the catalog shares) gets
a small share through its degree, as it does in the model, and explains little to a
reader: the share is weighted by how specific the path's connecting nodes are (the
entities and users between the user and the item), their inverse document frequency over
the catalog, ``log(items / joined) / log(items)`` in 0..1 (over users for an attribute
value), the least specific one counting; a path through a hub entity (specificity under
HUB_SPECIFICITY) is shown only for an item no other path explains, and then alone. Among
the top paths, different shapes (relationship types) are preferred, so a list does not
explain everything alike.

How they are told: a sentence in Markdown (names escaped). An entity known only by a code
(a Freebase ``m.09c7w0``) is never named by it: it is told by its type and what it joins
("*Collateral* shares a director with it"; "a director of *Heat*" in pictures and tables).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import math

import numpy as np
import pandas as pd

from kgrec.app.markup import escape
from kgrec.kg.graph import GraphExport, GraphPath, NodeRef, PathQuery, PathStep
from kgrec.kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kgrec.kg.store.base import GraphStore
from kgrec.text.sentences import humanise, is_fallback_name

Embed = Callable[[Sequence[NodeRef]], np.ndarray]
"""nodes -> their final model embeddings, ``(len(nodes), d)``."""
Degree = Callable[[NodeRef], int]
"""How many relationships a node has."""

ANCHORS = 5
KG_PATHS_PER_ANCHOR = 10
HUB_SPECIFICITY = 0.4
"""A connecting node less specific than this is a hub (on ml-100k: joining more than about
85 of the 1,682 items, or 60 of the 943 users): paths through hubs are shown only for an
item that has no other path, and then one."""
PEER_PATHS_PER_ANCHOR = 3
"""Paths through other users ("people who liked it also liked ...") are many and alike: a
few, from the best anchor only, are enough, and they must not crowd out knowledge-graph
paths."""


@dataclass(frozen=True)
class Explanation:
    path: GraphPath
    score: float
    sentence: str

    def shape(self) -> tuple[str, ...]:
        """The relationship types along the path: what kind of explanation it is."""
        return tuple(step.type for step in self.path.steps)


class NodeNames:
    """Readable names from an export: item titles, entity names, and for an entity known
    only by a code, its type and the best-known item it joins ("director of *Heat*")."""

    def __init__(self, export: GraphExport) -> None:
        self.items = _column(export.nodes.get(ITEM), "title")
        entities = export.nodes.get(ENTITY)
        self.entities = _column(entities, "name")
        self.entity_types = _column(entities, "type")
        self.joins, self.reach = _joined_items(export)

    def named(self, node: NodeRef) -> bool:
        """Whether the node has a name of its own (an unnamed entity has only a code)."""
        return node.label != ENTITY or not is_fallback_name(self.entities.get(node.id, node.id), node.id)

    def name(self, node: NodeRef) -> str:
        if node.label == ITEM:
            return self.items.get(node.id, node.id)
        if node.label == ENTITY:
            return self.entities.get(node.id, node.id) if self.named(node) else self.described(node)
        return f"user {node.id}"

    def described(self, node: NodeRef) -> str:
        """An unnamed entity by its type and what it joins: ``director of Heat``,
        ``country of Toy Story and 1,203 more``."""
        kind = self.kind(node)
        best, count = self.joins.get(node.id, (None, 0))
        if best is None:
            return f"{_article(kind)} {kind}"
        return f"{kind} of {self.items.get(best, best)}" + (f" and {count - 1:,} more" if count > 1 else "")

    def kind(self, node: NodeRef) -> str:
        if node.label == ENTITY:
            return humanise(self.entity_types.get(node.id, "entity"))
        return node.label.lower()

    def share_joined(self, node: NodeRef) -> tuple[int, int]:
        """(how many items an entity or user is joined to, how many items there are); for an
        entity joined to users only (an attribute value), the same over users."""
        return self.reach.get(node, (1, max(1, len(self.items))))


def _joined_items(export: GraphExport) -> tuple[dict[str, tuple[str, int]], dict[NodeRef, tuple[int, int]]]:
    """(entity id -> (its most interacted-with item, how many items it joins); entity or
    user -> (how many items it joins, items), or for an entity joined to users only,
    (how many users, users)), from the export's relationships."""
    item_ids, user_ids = export.ids(ITEM), export.ids(USER)
    popularity = np.zeros(len(item_ids))
    pairs: dict[tuple[str, str], list[pd.DataFrame]] = {(ENTITY, ITEM): [], (USER, ITEM): [], (ENTITY, USER): []}
    for key, frame in export.edges.items():
        if key.src == USER and key.dst == ITEM:
            popularity += np.bincount(frame["dst"].to_numpy(), minlength=len(item_ids))[: len(item_ids)]
        for label, other in pairs:
            if key.src == other and key.dst == label:
                pairs[label, other].append(frame[["src", "dst"]].set_axis(["other", "node"], axis=1))
            elif key.src == label and key.dst == other:
                pairs[label, other].append(frame[["dst", "src"]].set_axis(["other", "node"], axis=1))
    reach: dict[NodeRef, tuple[int, int]] = {}
    joins: dict[str, tuple[str, int]] = {}
    for (label, other), frames in reversed(pairs.items()):  # item joins win over user joins
        if not frames:
            continue
        ids, population = export.ids(label), max(1, len(item_ids if other == ITEM else user_ids))
        joined = pd.concat(frames, ignore_index=True).drop_duplicates()
        counts = joined.groupby("node").size()
        reach.update({NodeRef(label, ids[n]): (int(c), population) for n, c in counts.items()})
        if (label, other) == (ENTITY, ITEM):
            joined = joined.assign(popularity=popularity[joined["other"].to_numpy()])
            best = joined.sort_values(["node", "popularity"], ascending=[True, False], kind="stable").drop_duplicates("node")
            joins = {ids[n]: (item_ids[i], int(counts[n])) for n, i in zip(best["node"], best["other"])}
    return joins, reach


def connecting(path: GraphPath, start: int) -> list[NodeRef]:
    """The nodes a path explains through: the entities and users between its start (the
    user, or a new user's first anchor, at ``start``) and the item; liked items are the
    user's own choice, not a connection."""
    return [node for node in path.nodes[start:-1] if node.label != ITEM]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _column(frame: pd.DataFrame | None, column: str) -> dict[str, str]:
    if frame is None or column not in frame.columns:
        return {}
    values = frame[column].where(frame[column].notna(), frame["id"]).astype(str)
    return dict(zip(frame["id"].astype(str), values))


class Explainer:
    def __init__(self, store: GraphStore, names: NodeNames, embed: Embed, degree: Degree,
                 kg_types: Sequence[str]) -> None:
        self.store, self.names, self.embed, self.degree = store, names, embed, degree
        self.kg_types = frozenset(kg_types) - {INTERACTED, HAS_ATTRIBUTE}

    def explain(
        self,
        item_ids: Sequence[str],
        user_vector: np.ndarray,
        user_id: str | None = None,
        liked: Sequence[str] = (),
        attributes: Sequence[str] = (),
        limit: int = 3,
    ) -> list[list[Explanation]]:
        """Up to ``limit`` paths to each of ``item_ids``: from the :User ``user_id``
        through its ``liked`` items and ``attributes`` entities (a known user), or from
        those anchors themselves (a new user, ``user_id`` None). ``user_vector`` is the
        vector the model scored the items with for this user."""
        user = NodeRef(USER, user_id) if user_id is not None else None
        anchors = [NodeRef(ITEM, i) for i in liked] + [NodeRef(ENTITY, a) for a in attributes]
        if not anchors or not item_ids:
            return [[] for _ in item_ids]
        targets = [NodeRef(ITEM, i) for i in item_ids]
        user_degree = self.degree(user) if user is not None else len(anchors)
        anchor_weight = 1 / np.sqrt(np.array([max(1, self.degree(a)) for a in anchors]) * max(1, user_degree))
        # (anchors, items): the first-order drop of each item's score without the anchor.
        anchor_share = (self.embed(anchors) @ self.embed(targets).T) * anchor_weight[:, None]
        queries: list[PathQuery] = []
        owners: list[tuple[int, NodeRef]] = []
        for position, target in enumerate(targets):
            share = np.where([a == target for a in anchors], -np.inf, anchor_share[:, position])
            for rank, index in enumerate(np.argsort(-share, kind="stable")[:ANCHORS]):
                if np.isfinite(share[index]):
                    for query in self._anchor_queries(anchors[index], target, with_peers=rank == 0):
                        queries.append(query)
                        owners.append((position, anchors[index]))
        candidates: list[list[GraphPath]] = [[] for _ in targets]
        for (position, anchor), paths in zip(owners, self.store.find_paths(queries)):
            for path in paths:
                if user is not None:
                    if user in path.nodes:
                        continue
                    step = PathStep(INTERACTED if anchor.label == ITEM else HAS_ATTRIBUTE, True)
                    path = GraphPath((user, *path.nodes), (step, *path.steps))
                candidates[position].append(path)
        # The item's side: the first-order drop without the item's edge to the node before it.
        before = sorted({p.nodes[-2] for paths in candidates for p in paths})
        item_side = dict(zip(before, self.embed(before) @ np.asarray(user_vector, dtype=float)
                             / np.sqrt([max(1, self.degree(n)) for n in before]))) if before else {}
        anchor_index = {a: i for i, a in enumerate(anchors)}
        start = 1 if user is not None else 0
        chosen = []
        for position, (target, paths) in enumerate(zip(targets, candidates)):
            item_weight = 1 / np.sqrt(max(1, self.degree(target)))
            scored = [(self._weighted(float(anchor_share[anchor_index[p.nodes[start]], position]
                                            + item_side[p.nodes[-2]] * item_weight), connecting(p, start)), p)
                      for p in paths]
            specific = [pair for pair in scored if self._specific(connecting(pair[1], start))]
            hubs = [pair for pair in scored if not self._specific(connecting(pair[1], start))]
            chosen.append(self._choose(specific, user is not None, limit) or self._choose(hubs, user is not None, 1))
        return chosen

    def specificity(self, node: NodeRef) -> float:
        """How little of the catalog ``node`` joins: ``log(all / joined) / log(all)`` over
        the items it is joined to (users, for an attribute value): 1 for a node joining one
        item, near 0 for a hub joining most of them."""
        joined, population = self.names.share_joined(node)
        population = max(2, population)
        return min(1.0, max(0.0, math.log(population / max(1, joined)) / math.log(population)))

    def _specific(self, between: Sequence[NodeRef]) -> bool:
        """No hub entity among the connecting nodes (other users, "people who liked it
        also liked", are weighted but never hubs: the sentence does not lean on one)."""
        return all(node.label != ENTITY or self.specificity(node) >= HUB_SPECIFICITY for node in between)

    def _weighted(self, share: float, between: Sequence[NodeRef]) -> float:
        """The share, weighted by the least specific connecting node (a negative share,
        which ranks last anyway, is left as it is)."""
        if share <= 0 or not between:
            return share
        return share * min(self.specificity(node) for node in between)

    def _anchor_queries(self, anchor: NodeRef, target: NodeRef, with_peers: bool) -> list[PathQuery]:
        """Knowledge-graph paths from an anchor; paths through other users only from the
        best anchor (they are costly to enumerate and read alike)."""
        queries = []
        if with_peers:
            peers = frozenset({INTERACTED} if anchor.label == ITEM else {HAS_ATTRIBUTE, INTERACTED})
            queries.append(PathQuery(anchor, target, max_hops=2, limit=PEER_PATHS_PER_ANCHOR, types=peers))
        if self.kg_types:
            queries.append(PathQuery(anchor, target, max_hops=2, limit=KG_PATHS_PER_ANCHOR, types=self.kg_types))
        return queries

    def _choose(self, scored: list[tuple[float, GraphPath]], from_user: bool, limit: int) -> list[Explanation]:
        """The best-scored paths, preferring shapes not shown yet, no sentence twice."""
        scored = sorted(scored, key=lambda pair: -pair[0])
        chosen: list[Explanation] = []
        shapes: set[tuple[str, ...]] = set()
        seen: set[object] = set()
        for prefer_new_shape in (True, False):
            for score, path in scored:
                if len(chosen) == limit:
                    return chosen
                shape = tuple(step.type for step in path.steps)
                sentence = self.sentence(path, from_user)
                if sentence in seen or path.nodes in seen or (prefer_new_shape and shape in shapes):
                    continue
                chosen.append(Explanation(path, score, sentence))
                shapes.add(shape)
                seen.update((sentence, path.nodes))
        return chosen

    def sentence(self, path: GraphPath, from_user: bool) -> str:
        """One readable sentence in Markdown, e.g. "You liked *Heat*; *Collateral* has the
        same director, Michael Mann." Names and kinds come from data, so they are escaped
        (:func:`kgrec.app.markup.escape`): only the emphasis is markup. Raw ids appear only where
        no name exists."""
        nodes, steps = list(path.nodes), list(path.steps)
        if from_user:
            nodes, steps = nodes[1:], steps[1:]
        anchor, target = nodes[0], f"*{self._name(nodes[-1])}*"
        if anchor.label == ENTITY:
            if len(nodes) == 3 and nodes[1].label == USER:
                return f"People who share your {self._kind(anchor)} ({self._name(anchor)}) liked {target}."
            opening = f"You chose {self._kind(anchor)} {self._name(anchor)}"
        else:
            opening = f"You liked *{self._name(anchor)}*"
        if len(steps) == 1:
            return f"{opening}; {target} {self._phrase(PathStep(steps[0].type, not steps[0].forward))} it."
        middle = nodes[1]
        if len(steps) == 2 and middle.label == USER:
            return f"{opening}; people who liked it also liked {target}."
        if len(steps) == 2 and middle.label == ENTITY and anchor.label == ITEM:
            if not self.names.named(middle):
                return f"{opening}; {target} shares {_article(self._kind(middle))} {self._kind(middle)} with it."
            return f"{opening}; {target} has the same {self._kind(middle)}, {self._name(middle)}."
        if len(steps) == 2:
            return (f"{opening}; it {self._phrase(steps[0])} {self._mention(middle)}, "
                    f"which {self._phrase(PathStep(steps[1].type, not steps[1].forward))} {target}.")
        hops = [f"{self._phrase(s)} {self._mention(n)}" for s, n in zip(steps[:-1], nodes[1:-1])]
        hops.append(f"{self._phrase(steps[-1])} {target}")
        return f"{opening}, which " + ", which ".join(hops) + "."

    def _name(self, node: NodeRef) -> str:
        return escape(self.names.name(node))

    def _mention(self, node: NodeRef) -> str:
        """A node in the middle of a sentence: its name; "a director" for an entity known
        only by a code; "another user" for a user (never an id)."""
        if node.label == USER:
            return "another user"
        if not self.names.named(node):
            return f"{_article(self._kind(node))} {self._kind(node)}"
        return self._name(node)

    def _kind(self, node: NodeRef) -> str:
        return escape(self.names.kind(node))

    @staticmethod
    def _phrase(step: PathStep) -> str:
        words = humanise(step.type)
        if step.forward:
            return words
        return f"has as {words[:-3]}" if words.endswith(" of") else f"is {words} of"
