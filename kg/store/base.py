"""The graph-store interface. Neo4j and the embedded networkx store both implement it and
pass the same contract tests (tests/kg/test_store_contract.py)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import pandas as pd

from kgrec.kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery, RelKey
from kgrec.kg.identifiers import ENTITY, INTERACTED, ITEM, USER
from kgrec.kg.to_graph import properties

Progress = Callable[[int], None]
"""Called with the number of rows just written, to advance a progress bar."""


@dataclass
class GraphCounts:
    """Node counts per label and relationship counts per type."""

    labels: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)


class Changes(NamedTuple):
    """How the rows of one part of a load (a node label, a relationship type) compare with
    the store: not there yet, there with other properties, or there as given."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def plus(self, other: Changes) -> Changes:
        return Changes(*(a + b for a, b in zip(self, other)))


@dataclass(frozen=True)
class Neighbour:
    node: NodeRef
    type: str
    forward: bool
    """True when the relationship points from the queried node to this neighbour."""


class LoadTarget(Protocol):
    """What an ingest needs of where it loads (:func:`kgrec.kg.ingest.load`): every
    :class:`GraphStore`, and the offline import into an empty Neo4j
    (:class:`kgrec.kg.store.neo4j_import.Neo4jImport`)."""

    kind: str

    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]: ...

    def compare(self, delta: GraphDelta) -> dict[str, Changes]: ...

    def load_stream(self, deltas: Iterable[GraphDelta], progress: Progress | None = None) -> None: ...


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

    def compare(self, delta: GraphDelta) -> dict[str, Changes]:
        """What loading ``delta`` would do, per node label and relationship type (the
        ingest report's new / updated / unchanged rows). This reference version reads one
        :meth:`export`; the stores count without one (in memory; on the server)."""
        graph = self.export()
        out: dict[str, Changes] = {}
        for label, frame in delta.nodes.items():
            frame = frame.drop_duplicates("id", keep="last")
            nodes = graph.nodes.get(label, pd.DataFrame(columns=["id"]))
            stored = dict(zip(nodes["id"].tolist(), properties(nodes, ("id",))))
            given = properties(frame, ("id",))
            out[label] = out.get(label, Changes()).plus(changes_of([stored.get(i) for i in frame["id"].tolist()], given))
        for key, frame in delta.rels.items():
            frame = frame.drop_duplicates(["src", "dst"], keep="last")
            edges = graph.edges.get(key, pd.DataFrame(columns=["src", "dst"]))
            src_ids, dst_ids = graph.ids(key.src), graph.ids(key.dst)
            stored = {(src_ids[a], dst_ids[b]): p for a, b, p in zip(
                edges["src"].tolist(), edges["dst"].tolist(), properties(edges, ("src", "dst")))}
            pairs = zip(frame["src"].tolist(), frame["dst"].tolist())
            out[key.type] = out.get(key.type, Changes()).plus(
                changes_of([stored.get(pair) for pair in pairs], properties(frame, ("src", "dst"))))
        return out

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


def changes_of(stored: Sequence[Mapping[str, object] | None], given: Sequence[Mapping[str, object]]) -> Changes:
    """Rows given (their properties) against what is stored for each (None: nothing): new,
    updated, or unchanged when every property given is stored with that value (a load
    overwrites only those)."""
    new = sum(1 for there in stored if there is None)
    same = sum(1 for there, row in zip(stored, given)
               if there is not None and all(k in there and there[k] == v for k, v in row.items()))
    return Changes(new, len(given) - new - same, same)


def with_entity_defaults(nodes: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Entities implied by triples have no name or type: the name falls back to the id."""
    entities = nodes[ENTITY]
    for column in ("name", "type"):
        if column not in entities.columns:
            entities[column] = None
    entities["name"] = entities["name"].where(entities["name"].notna(), entities["id"])
    entities["type"] = entities["type"].where(entities["type"].notna(), "entity")
    return nodes
