"""Finding items and entities by the words a visitor types, without Gradio.

Every word must appear (case-insensitive, in any order): "wars star" finds *Star Wars*,
"empire back" *Empire Strikes Back, The*. An entity that has a name of its own is found by
it; one known only by a code (a Freebase ``m.07nznf``) by the titles of the items it joins,
and shown as the app names it everywhere ("director of Star Wars"), with its type.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kgrec.app.explain import NodeNames
from kgrec.kg.graph import GraphExport, NodeRef
from kgrec.kg.identifiers import ENTITY, ITEM
from kgrec.kg.validate import ATTRIBUTE_PREFIX


ANY_TYPE = "any type"
"""What the type pickers offer for "search every type"."""


def words(query: str | None) -> list[str]:
    return (query or "").casefold().split()


def all_words(texts: pd.Series, query: str | None) -> pd.Series:
    """Which of ``texts`` hold every word of ``query`` (False for all when it has none)."""
    wanted = words(query)
    folded = texts.fillna("").astype(str).str.casefold()
    mask = pd.Series(bool(wanted), index=texts.index)
    for word in wanted:
        mask &= folded.str.contains(word, regex=False)
    return mask


def items_by_words(items: pd.DataFrame | None, query: str | None, limit: int) -> pd.DataFrame:
    """Item rows whose title holds every word of ``query`` (or whose id is the query),
    shortest titles first."""
    if items is None or items.empty or not words(query):
        return pd.DataFrame(columns=[] if items is None else items.columns)
    titles = items["title"].fillna("").astype(str)
    mask = all_words(titles, query) | (items["id"].astype(str) == (query or "").strip())
    found = items[mask]
    return found.iloc[np.argsort(titles[mask].str.len().to_numpy(), kind="stable")][:limit]


@dataclass(frozen=True)
class EntityMatch:
    id: str
    type: str
    name: str
    items: int
    """How many items the entity is joined to."""
    named: bool
    """Whether the name is the entity's own (else it says what the entity joins)."""
    relation: str | None
    """The relation items most often use to reach it (what a new item's link would use)."""


class EntityIndex:
    """The entities of one export, searchable by words and type. Built once per export."""

    def __init__(self, export: GraphExport, names: NodeNames) -> None:
        entities = export.nodes.get(ENTITY)
        if entities is None:
            entities = pd.DataFrame(columns=["id", "name", "type"])
        self.export = export
        self.ids = entities["id"].astype(str).tolist()
        raw_types = entities["type"] if "type" in entities.columns else pd.Series("entity", index=entities.index)
        self.types = raw_types.fillna("entity").astype(str).to_numpy()
        refs = [NodeRef(ENTITY, i) for i in self.ids]
        self.named = np.array([names.named(r) for r in refs], dtype=bool)
        self.names = pd.Series([names.name(r) for r in refs], dtype=object)
        self.kinds = [names.kind(r) for r in refs]
        self.attribute = np.array([i.startswith(f"{ATTRIBUTE_PREFIX}:") for i in self.ids], dtype=bool)
        pairs, relations = [], {}
        for key, frame in export.edges.items():
            if {key.src, key.dst} != {ITEM, ENTITY}:
                continue
            entity, item = ("dst", "src") if key.dst == ENTITY else ("src", "dst")
            pairs.append(frame[[entity, item]].set_axis(["entity", "item"], axis=1))
            if key.src == ITEM:
                for position, n in frame["dst"].value_counts().items():
                    best = relations.get(int(position))
                    if best is None or n > best[1]:
                        relations[int(position)] = (key.type, int(n))
        self.joined = (pd.concat(pairs, ignore_index=True).drop_duplicates() if pairs
                       else pd.DataFrame({"entity": pd.Series(dtype=int), "item": pd.Series(dtype=int)}))
        self.reach = np.bincount(self.joined["entity"].to_numpy(int), minlength=len(self.ids))[: len(self.ids)]
        self.relation = relations
        items = export.nodes.get(ITEM)
        self.titles = (items["title"] if items is not None and "title" in items.columns
                       else pd.Series(dtype=object)).fillna("").astype(str).reset_index(drop=True)

    def type_choices(self) -> list[str]:
        """Entity types, the most common first (user attribute values left out)."""
        counts = pd.Series(self.types[~self.attribute]).value_counts()
        return counts.index.tolist()

    def search(self, query: str | None, entity_type: str | None = None, limit: int = 50,
               linkable: bool = False) -> list[EntityMatch]:
        """Entities whose own name holds every word, then unnamed ones joined to an item
        whose title does; only of ``entity_type`` when given; with ``linkable`` only those
        items link to (a relation is known). The most joined first."""
        if not words(query):
            return []
        allowed = ~self.attribute
        if entity_type and entity_type != ANY_TYPE:
            allowed &= self.types == entity_type
        by_name = np.flatnonzero(allowed & self.named & all_words(self.names, query).to_numpy())
        matching_items = np.flatnonzero(all_words(self.titles, query).to_numpy())
        through = self.joined["entity"][self.joined["item"].isin(matching_items)].unique()
        through = np.array([p for p in through if allowed[p] and not self.named[p]], dtype=int)
        found = []
        for group in (by_name, through):
            for position in sorted(group, key=lambda p: (-self.reach[p], self.names[p])):
                relation = self.relation.get(int(position), (None, 0))[0]
                if linkable and relation is None:
                    continue
                found.append(EntityMatch(self.ids[position], self.kinds[position], str(self.names[position]),
                                         int(self.reach[position]), bool(self.named[position]), relation))
        return found[:limit]

    def find(self, name: str) -> list[str]:
        """The ids of the entities named ``name`` (case-insensitive, exact): by their own
        name, as the app shows them, or, for one known only by a code, as ``<type> of
        <title>`` ("director of Star Wars": the directors of the item titled *Star Wars*)."""
        wanted = " ".join(name.split()).casefold()
        folded = self.names.astype(str).str.casefold()
        found = set(np.flatnonzero((folded == wanted).to_numpy()).tolist())
        kind, sep, title = wanted.partition(" of ")
        if sep:  # "director of Star Wars": the unnamed directors of the item titled so
            items = np.flatnonzero((self.titles.str.casefold() == title).to_numpy())
            joined = self.joined["entity"][self.joined["item"].isin(items)].unique()
            found |= {int(p) for p in joined if not self.named[p] and self.kinds[p].casefold() == kind}
        return [self.ids[p] for p in sorted(found)]


__all__ = ["ANY_TYPE", "EntityIndex", "EntityMatch", "all_words", "items_by_words", "words"]
