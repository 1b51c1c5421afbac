"""The in-memory form of a catalog, shared by the folder reader and the dataset adapters.

Every id is a string exactly as the source has it. After validation, ``triples.relation``
holds the canonical relationship type (see ``kgrec.kg.identifiers``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

ITEM_COLUMNS = ("item_id", "title", "description")
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
TRIPLE_COLUMNS = ("head", "relation", "tail")
ENTITY_COLUMNS = ("entity_id", "name", "type")


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass
class Catalog:
    """Items, users, interactions and knowledge-graph facts, one DataFrame each.

    - ``items``: item_id, title, description, then any property columns (strings).
    - ``users``: user_id, then attribute columns; each non-empty value becomes an
      edge to an attribute entity.
    - ``interactions``: user_id, item_id, rating (float, NaN when absent),
      timestamp (unix seconds as float, NaN when absent).
    - ``triples``: head, relation, tail.
    - ``entities``: entity_id, name, type.
    """

    items: pd.DataFrame = field(default_factory=lambda: empty_frame(ITEM_COLUMNS))
    interactions: pd.DataFrame = field(default_factory=lambda: empty_frame(INTERACTION_COLUMNS))
    users: pd.DataFrame = field(default_factory=lambda: empty_frame(("user_id",)))
    triples: pd.DataFrame = field(default_factory=lambda: empty_frame(TRIPLE_COLUMNS))
    entities: pd.DataFrame = field(default_factory=lambda: empty_frame(ENTITY_COLUMNS))
    name: str = "catalog"

    def summary(self) -> dict[str, int]:
        return {
            "items": len(self.items),
            "users": len(self.users),
            "interactions": len(self.interactions),
            "triples": len(self.triples),
            "entities": len(self.entities),
        }
