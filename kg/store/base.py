"""The graph-store interface. Neo4j and the embedded networkx store both implement it and
pass the same contract tests (tests/test_store_contract.py)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery, RelKey
from kg.identifiers import ENTITY, INTERACTED, ITEM, USER

Progress = Callable[[int], None]
"""Called with the number of rows just written, to advance a progress bar."""


@dataclass
class GraphCounts:
    """Node counts per label and relationship counts per type."""

    labels: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Neighbour:
    node: NodeRef
    type: str
    forward: bool
    """True when the relationship points from the queried node to this neighbour."""


class GraphStore(ABC):
    """A knowledge graph of :Item, :User and :Entity nodes keyed by ``id``.

    Several processes may read and write one store at once: a write never undoes another
    (each applies only its own change to the current state), and reads see every write
    committed before them."""

    kind: str

    @abstractmethod
    def version(self) -> str:
        """An opaque token that changes whenever the stored data changes (it may also change
        when a write changed nothing): a reader that kept a copy of the graph compares it
        with the token it saw then to know whether to read again. Cheap to call."""

    @abstractmethod
    def load(self, delta: GraphDelta, progress: Progress | None = None) -> None:
        """Merge nodes (by id; properties overwritten) then relationships (one per
        type and node pair; properties overwritten). Loading the same delta twice
        leaves the store unchanged."""

    def load_stream(self, deltas: Iterable[GraphDelta], progress: Progress | None = None) -> None:
        """Load deltas one after another, as one load of their union would: a streamed
        ingest's chunks. No node, and no (type, pair) of relationships, may be in two of them."""
        for delta in deltas:
            self.load(delta, progress)

    def write_interactions(self, events: pd.DataFrame) -> list[bool]:
        """Record validated events (``user_id``, ``item_id``, ``rating``, ``timestamp``;
        NaN = absent) as INTERACTED relationships, creating unknown users, all or nothing.
        Returns, per row, whether it was written: False where the item is not in the store
        (removed since the event was validated)."""
        present = self.existing_ids(ITEM, set(events["item_id"]))
        written = events["item_id"].isin(present)
        rows = events[written]
        delta = GraphDelta(
            nodes={USER: pd.DataFrame({"id": rows["user_id"].drop_duplicates().to_numpy()})},
            rels={RelKey(INTERACTED, USER, ITEM): pd.DataFrame({
                "src": rows["user_id"].to_numpy(), "dst": rows["item_id"].to_numpy(),
                "rating": rows["rating"].to_numpy(dtype=float), "ts": rows["timestamp"].to_numpy(dtype=float)})},
        )
        if len(rows):
            self.load(delta)
        return written.tolist()

    @abstractmethod
    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` already exist as nodes with ``label``."""

    @abstractmethod
    def counts(self) -> GraphCounts: ...

    @abstractmethod
    def node(self, ref: NodeRef) -> dict[str, object] | None:
        """The properties of one node (with ``id``), or None when it does not exist."""

    @abstractmethod
    def neighbours(self, ref: NodeRef, limit: int = 100) -> list[Neighbour]:
        """Adjacent nodes in both directions, ordered by (type, label, id)."""

    @abstractmethod
    def find_paths(self, queries: Sequence[PathQuery]) -> list[list[GraphPath]]:
        """For each query, its simple paths (no node twice), ordered by length, then the ids
        along the path, then the types; at most ``query.limit``. Answered together: one
        round trip to a server for a whole recommendation list."""

    def paths(
        self, src: NodeRef, dst: NodeRef, max_hops: int = 3, limit: int = 100, types: Collection[str] | None = None
    ) -> list[GraphPath]:
        """The paths of one :class:`PathQuery`."""
        query = PathQuery(src, dst, max_hops, limit, None if types is None else frozenset(types))
        return self.find_paths([query])[0]

    @abstractmethod
    def remove_item(self, item_id: str) -> bool:
        """Delete an item and its relationships; False when it did not exist."""

    @abstractmethod
    def export(self) -> GraphExport: ...

    @abstractmethod
    def clear(self) -> None:
        """Delete everything (used by tests and ``kgrec ingest --replace``)."""

    def close(self) -> None:
        """Release connections; the store stays on disk / in the server."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def with_entity_defaults(nodes: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Entities implied by triples have no name or type: the name falls back to the id."""
    entities = nodes[ENTITY]
    for column in ("name", "type"):
        if column not in entities.columns:
            entities[column] = None
    entities["name"] = entities["name"].where(entities["name"].notna(), entities["id"])
    entities["type"] = entities["type"].where(entities["type"].notna(), "entity")
    return nodes
