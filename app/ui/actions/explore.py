"""The Explore tab's actions: search items (by the words of their titles, or by meaning),
search entities by name and type, and see a node's neighbourhood as a table and a picture."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kgrec.app.markup import escape
from kgrec.app.ui import drawing
from kgrec.app.ui.actions.base import TabActions, shorten
from kgrec.app.ui.actions.explain import PathView
from kgrec.app.ui.search import items_by_words
from kgrec.kg.graph import NodeRef
from kgrec.kg.identifiers import ITEM, LABELS, USER

SEARCH_RESULTS = 50
NEIGHBOURS = 200
"""Neighbours listed in the Explore table."""
FETCH_NEIGHBOURS = 5_000
PICTURED = 24
PICTURED_USERS = 6
"""Of the neighbours drawn, users fill at most this many places unless nothing else is there."""
MATCH_DIGITS = 2
NEIGHBOUR_COLUMNS = ["relationship", "direction", "label", "id", "name"]
SEARCH_COLUMNS = ["item_id", "title", "description", "match"]
ENTITY_COLUMNS = ["entity_id", "type", "name", "items"]


class ExploreActions(TabActions):
    def search_items(self, query: str, semantic: bool = False, limit: int = SEARCH_RESULTS) -> pd.DataFrame:
        """Items whose title holds every word of ``query`` (case-insensitive, any order), or,
        with ``semantic``, the items whose text embedding is closest to the query's (the
        match a cosine, rounded)."""
        query = (query or "").strip()
        with self.lock.reading():
            items = self.service.export.nodes.get(ITEM)
            if items is None or items.empty or not query:
                return pd.DataFrame(columns=SEARCH_COLUMNS)
            if semantic:
                scores = self.service.semantic_scores(query)
                order = np.argsort(-scores, kind="stable")[:limit]
                found = items.iloc[order].assign(match=[round(float(s), MATCH_DIGITS) for s in scores[order]])
            else:
                found = items_by_words(items, query, limit).assign(match="title")
        description = found["description"] if "description" in found.columns else pd.Series("", index=found.index)
        return pd.DataFrame({
            "item_id": found["id"].astype(str),
            "title": found["title"].fillna("").astype(str),
            "description": description.fillna("").astype(str).str.slice(0, 160),
            "match": found["match"],
        }).reset_index(drop=True)

    def entity_types(self) -> list[str]:
        """The entity types to search among (the most common first)."""
        return self.entities().type_choices()

    def search_entities(self, query: str, entity_type: str | None = None, limit: int = SEARCH_RESULTS) -> pd.DataFrame:
        """Entities by name and type: those named with every word of ``query``, and those
        known only by a code that join an item whose title holds them ("director of Star
        Wars" for "star wars" among directors)."""
        found = self.entities().search(query, entity_type, limit)
        return pd.DataFrame([(m.id, m.type, m.name, m.items) for m in found], columns=ENTITY_COLUMNS)

    def neighbourhood(self, label: str, node_id: str, limit: int = NEIGHBOURS) -> PathView:
        """A node's properties, its neighbours as a table and the neighbourhood drawn."""
        empty = pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
        node_id = (node_id or "").strip()
        if label not in LABELS:
            return PathView(f"**Error:** unknown label {label!r}: choose one of {', '.join(LABELS)}.", None, empty)
        if not node_id:
            return PathView("Give a node id (search for an item or an entity above, then pick a row).", None, empty)
        ref = NodeRef(label, node_id)
        with self.lock.reading():
            properties = self.service.store.node(ref)
            if properties is None:
                return PathView(f"**Error:** there is no {label} with id {node_id!r} in the graph.", None, empty)
            found = self.service.store.neighbours(ref, limit=FETCH_NEIGHBOURS)
            names = self.service.names
            # Facts first (entities, items), then users: an item's users would crowd out its genres.
            neighbours = sorted(found, key=lambda n: n.node.label == USER)[:limit]
            rows = [(n.type, "→" if n.forward else "←", n.node.label, n.node.id, names.name(n.node)) for n in neighbours]
            kinds = {(n.node.label, n.node.id): names.kind(n.node) for n in neighbours}
            kinds[(label, node_id)] = names.kind(ref)
            centre = names.name(ref)
        shown = {k: v for k, v in properties.items() if k != "id" and v is not None and not _is_nan(v)}
        lines = [f"**{escape(centre)}** ({label} {escape(node_id)})"]
        lines += [f"- {k}: {escape(shorten(str(v), 300))}" for k, v in shown.items()]
        users = sum(1 for n in found if n.node.label == USER)
        more = "+" if len(found) == FETCH_NEIGHBOURS else ""
        lines.append(f"\n{len(found):,}{more} neighbour(s), {users:,}{more if users else ''} of them users"
                     + (f"; the table shows {limit}" if len(found) > limit else "") + ".")
        pictured = [n for n in neighbours if n.node.label != USER][:PICTURED - PICTURED_USERS]
        pictured += [n for n in neighbours if n.node.label == USER][:PICTURED - len(pictured)]
        image = drawing.draw_neighbourhood(ref, centre, [(n, names.name(n.node)) for n in pictured], kinds,
                                           total=len(found))
        return PathView("\n".join(lines), image, pd.DataFrame(rows, columns=NEIGHBOUR_COLUMNS))


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


__all__ = ["ENTITY_COLUMNS", "NEIGHBOUR_COLUMNS", "SEARCH_COLUMNS", "ExploreActions"]
