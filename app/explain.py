"""Explanations: real paths of at most three hops through the graph store, from the user to
a recommended item, ranked by the model, each told as a sentence and drawn as a small graph.

Which paths: the user's own interactions and attribute entities are the anchors (for a new
user, the liked items and attributes of the request). Anchors are ranked by the model's
relevance to the item (cosine of their final GNN embeddings) and the best few are joined
to the item by the store's own path query of at most two hops (Cypher on Neo4j, the same
semantics on the embedded store). For a known user the path starts at the :User node with
the real INTERACTED or HAS_ATTRIBUTE relationship to the anchor, so it has at most three
hops and every hop is in the store; for a new user it starts at the liked item or attribute.

How they are ranked: a path's score is the mean relevance to the item of the nodes it
passes through (the anchor and the nodes between), each node between divided by
``log2(2 + degree)``, so a path through the director the model ties closely to the item
comes before one through a hub such as the country half the catalog shares.
Among the top paths, different shapes (relationship types) are preferred, so a list does
not explain everything the same way.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kg.graph import GraphExport, GraphPath, NodeRef, PathStep
from kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kg.store.base import GraphStore
from text.sentences import humanise, is_fallback_name

Relevance = Callable[[Sequence[NodeRef], NodeRef], np.ndarray]
"""(nodes, item) -> the model's relevance of each node to the item, higher is closer."""
Degree = Callable[[NodeRef], int]
"""How many relationships a node has: hubs (a country, a language) explain little."""

ANCHORS = 3
KG_PATHS_PER_ANCHOR = 10
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
    """Readable names from an export: item titles, entity names (with their type when the
    name is only an id), and "you" for the user being explained."""

    def __init__(self, export: GraphExport) -> None:
        self.items = _column(export.nodes.get(ITEM), "title")
        entities = export.nodes.get(ENTITY)
        self.entities = _column(entities, "name")
        self.entity_types = _column(entities, "type")

    def name(self, node: NodeRef) -> str:
        if node.label == ITEM:
            return self.items.get(node.id, node.id)
        if node.label == ENTITY:
            name = self.entities.get(node.id, node.id)
            return f"({node.id})" if is_fallback_name(name, node.id) else name
        return f"user {node.id}"

    def kind(self, node: NodeRef) -> str:
        if node.label == ENTITY:
            return humanise(self.entity_types.get(node.id, "entity"))
        return node.label.lower()


def _column(frame: pd.DataFrame | None, column: str) -> dict[str, str]:
    if frame is None or column not in frame.columns:
        return {}
    values = frame[column].where(frame[column].notna(), frame["id"]).astype(str)
    return dict(zip(frame["id"].astype(str), values))


class Explainer:
    def __init__(self, store: GraphStore, names: NodeNames, relevance: Relevance, degree: Degree,
                 kg_types: Sequence[str]) -> None:
        self.store, self.names, self.relevance, self.degree = store, names, relevance, degree
        self.kg_types = frozenset(kg_types) - {INTERACTED, HAS_ATTRIBUTE}

    def explain(
        self,
        item_id: str,
        user_id: str | None = None,
        liked: Sequence[str] = (),
        attributes: Sequence[str] = (),
        limit: int = 3,
    ) -> list[Explanation]:
        """Up to ``limit`` paths to ``item_id``: from the :User ``user_id`` through its
        ``liked`` items and ``attributes`` entities (a known user), or from those
        anchors themselves (a new user, ``user_id`` None)."""
        target = NodeRef(ITEM, item_id)
        anchors = [NodeRef(ITEM, i) for i in liked if i != item_id] + [NodeRef(ENTITY, a) for a in attributes]
        if not anchors:
            return []
        scores = np.asarray(self.relevance(anchors, target), dtype=float)
        best = [anchors[i] for i in np.argsort(-scores, kind="stable")[:ANCHORS]]
        user = NodeRef(USER, user_id) if user_id is not None else None
        candidates: list[GraphPath] = []
        for rank, anchor in enumerate(best):
            for path in self._anchor_paths(anchor, target, with_peers=rank == 0):
                if user is not None:
                    if user in path.nodes:
                        continue
                    step = PathStep(INTERACTED if anchor.label == ITEM else HAS_ATTRIBUTE, True)
                    path = GraphPath((user, *path.nodes), (step, *path.steps))
                candidates.append(path)
        if not candidates:
            return []
        return self._choose(candidates, target, user, limit)

    def _anchor_paths(self, anchor: NodeRef, target: NodeRef, with_peers: bool) -> list[GraphPath]:
        """Knowledge-graph paths from an anchor; paths through other users only from the
        best anchor (they are costly to enumerate and read alike)."""
        paths = []
        if with_peers:
            peers = {INTERACTED} if anchor.label == ITEM else {HAS_ATTRIBUTE, INTERACTED}
            paths = self.store.paths(anchor, target, max_hops=2, limit=PEER_PATHS_PER_ANCHOR, types=peers)
        if self.kg_types:
            paths += self.store.paths(anchor, target, max_hops=2, limit=KG_PATHS_PER_ANCHOR, types=self.kg_types)
        return paths

    def _choose(self, paths: list[GraphPath], target: NodeRef, user: NodeRef | None, limit: int) -> list[Explanation]:
        inner = sorted({n for p in paths for n in p.nodes[:-1] if n != user})
        relevance = dict(zip(inner, np.asarray(self.relevance(inner, target), dtype=float)))
        start = 1 if user is not None else 0
        def score(path: GraphPath) -> float:
            anchor, between = path.nodes[start], path.nodes[start + 1:-1]
            return float(np.mean([relevance[anchor]] + [relevance[n] / np.log2(2 + self.degree(n)) for n in between]))

        scored = sorted(((score(p), p) for p in paths), key=lambda pair: -pair[0])
        chosen: list[Explanation] = []
        shapes: set[tuple[str, ...]] = set()
        seen: set[object] = set()
        for prefer_new_shape in (True, False):
            for score, path in scored:
                if len(chosen) == limit:
                    return chosen
                shape = tuple(step.type for step in path.steps)
                sentence = self.sentence(path, user is not None)
                if sentence in seen or path.nodes in seen or (prefer_new_shape and shape in shapes):
                    continue
                chosen.append(Explanation(path, score, sentence))
                shapes.add(shape)
                seen.update((sentence, path.nodes))
        return chosen

    def sentence(self, path: GraphPath, from_user: bool) -> str:
        """One readable sentence, e.g. "You liked *Heat*; *Collateral* has the same
        director, Michael Mann." Raw ids appear only where no name exists."""
        nodes, steps = list(path.nodes), list(path.steps)
        if from_user:
            nodes, steps = nodes[1:], steps[1:]
        anchor, target = nodes[0], f"*{self.names.name(nodes[-1])}*"
        if anchor.label == ENTITY:
            if len(nodes) == 3 and nodes[1].label == USER:
                return f"People who share your {self.names.kind(anchor)} ({self.names.name(anchor)}) liked {target}."
            opening = f"You chose {self.names.kind(anchor)} {self.names.name(anchor)}"
        else:
            opening = f"You liked *{self.names.name(anchor)}*"
        if len(steps) == 1:
            return f"{opening}; {target} {self._phrase(PathStep(steps[0].type, not steps[0].forward))} it."
        middle = nodes[1]
        if len(steps) == 2 and middle.label == USER:
            return f"{opening}; people who liked it also liked {target}."
        if len(steps) == 2 and middle.label == ENTITY and anchor.label == ITEM:
            return f"{opening}; {target} has the same {self._entity(middle)}."
        if len(steps) == 2:
            return (f"{opening}; it {self._phrase(steps[0])} {self.names.name(middle)}, "
                    f"which {self._phrase(PathStep(steps[1].type, not steps[1].forward))} {target}.")
        hops = [f"{self._phrase(s)} {self.names.name(n)}" for s, n in zip(steps, nodes[1:])]
        return f"{opening}, which " + ", which ".join(hops) + "."

    def _entity(self, node: NodeRef) -> str:
        """``director, Michael Mann``; ``director (m.0bxtg)`` when only an id is known."""
        name = self.names.name(node)
        return f"{self.names.kind(node)} {name}" if name.startswith("(") else f"{self.names.kind(node)}, {name}"

    @staticmethod
    def _phrase(step: PathStep) -> str:
        words = humanise(step.type)
        if step.forward:
            return words
        return f"has as {words[:-3]}" if words.endswith(" of") else f"is {words} of"
