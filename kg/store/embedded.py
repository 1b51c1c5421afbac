"""The embedded store: a networkx MultiDiGraph in a folder, as a snapshot and a journal.

Nodes are keyed ``(label, id)``; parallel relationships are keyed by type, which gives
MERGE semantics (one relationship per type and ordered node pair).

On disk, as databases keep their data: ``graph.pickle``, a snapshot (a header line
``kgrec-graph 3 <generation> <lineage>``, then the pickled graph), and ``graph.journal``, the
changes made since that snapshot, one record per write (:mod:`kgrec.kg.store.journal`). A write
(``load``, ``remove_item``) takes an exclusive ``fcntl`` lock on ``graph.lock``, catches up
with what other processes wrote, applies its own change in memory and appends it to the
journal as the next generation (one small record and one ``fsync``, whatever the size of the
graph), so no write undoes another. After ``COMPACT_RECORDS`` records, or once the journal is
as large as the snapshot, the writer compacts: it writes the whole graph as a new snapshot
(temporary file, fsync, rename) and starts an empty journal after it; ``clear`` and a store's
first write do the same. A reader (this or another process) that sees the files change
replays the records newer than its generation, and reads the snapshot again only when it
lags behind it. A writer that died half-way leaves at most a torn last record, which fails
its checksum, is never replayed and is cut off by the next writer (a bad record with whole
ones after it is damage: writes are refused rather than cut them off).

:meth:`EmbeddedStore.version` is the identity and size of both files (two ``stat`` calls): it
moves with every write.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import secrets
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import networkx as nx
import pandas as pd

from kgrec.kg.errors import StoreError
from kgrec.kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery, PathStep, RelKey
from kgrec.kg.identifiers import LABELS
from kgrec.kg.store import journal
from kgrec.kg.store.base import Changes, GraphCounts, GraphStore, Neighbour, Progress, changes_of, with_entity_defaults
from kgrec.kg.to_graph import properties

GRAPH_FILE = "graph.pickle"
JOURNAL_FILE = "graph.journal"
LOCK_FILE = "graph.lock"
MAGIC = b"kgrec-graph"
FORMAT = 3
"""Format 3: a header line ``kgrec-graph 3 <generation> <lineage>``, then the pickled graph,
followed by ``graph.journal``. Formats 2 (``kgrec-graph 2 <generation>``, no journal) and 1 (a
pickled ``(1, graph)`` tuple, no header, generation 0) are still read; the first write
rewrites them as format 3."""
EMPTY = "empty"
"""The version of a folder that holds no store yet."""
COMPACT_RECORDS = 1000
"""Journal records after which a writer compacts (replaying them costs a new reader ~0.1 s)."""
COMPACT_MIN_BYTES = 1 << 20
"""A journal shorter than this is never compacted for its size (only for its record count)."""
CATCH_UP_TRIES = 5

T = TypeVar("T")
Key = tuple[str, str]
Op = tuple[Any, ...]
"""A change as the journal holds it (plain Python values, pickled):
``("merge", [(label, [(id, props), ...]), ...], [((type, src_label, dst_label), [(src, dst, props), ...]), ...])``,
``("remove", item_id)`` or ``("clear",)``."""


@dataclass(frozen=True)
class _JournalPosition:
    """How far into the journal the graph in memory is."""

    header: journal.Header
    end: int
    """The end of the last whole record read (or the header): where the next one is appended."""
    records: int
    """Records after the snapshot."""


def _fresh(method: Callable[..., T]) -> Callable[..., T]:
    """A read: under the in-process lock, after catching up with what other writers wrote."""
    @wraps(method)
    def read(self: EmbeddedStore, *args: Any, **kwargs: Any) -> T:
        with self._mutex:
            self.reload()
            return method(self, *args, **kwargs)

    return read


class EmbeddedStore(GraphStore):
    kind = "embedded"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / GRAPH_FILE
        self.journal_path = folder / JOURNAL_FILE
        self._mutex = threading.RLock()
        self._forget()
        self.reload()

    def _forget(self) -> None:
        """Drop what is in memory: the next read starts again from the files."""
        self.graph = nx.MultiDiGraph()
        self._generation, self._lineage, self._version = 0, "", ""
        self._journal: _JournalPosition | None = None
        self._snapshot_bytes = 0

    def version(self) -> str:
        """``<snapshot>+<journal>``, each ``<inode>.<mtime ns>.<size>`` (``-`` when absent;
        ``empty`` when neither is there): an append grows the journal, a compaction replaces
        both files, so it changes with every write, also when the folder was emptied and
        written again."""
        stamps = [_stamp(self.path), _stamp(self.journal_path)]
        return EMPTY if stamps == ["-", "-"] else "+".join(stamps)

    def reload(self) -> bool:
        """Catch up with what other writers wrote since this store last read or wrote the
        folder; True when they had."""
        with self._mutex:
            version = self.version()  # before reading: a write meanwhile makes the next call catch up again
            if version == self._version:
                return False
            try:
                self._catch_up()
            except BaseException:
                self._forget()
                raise
            self._version = version
            return True

    def _catch_up(self) -> None:
        """The snapshot again when it is newer than the graph in memory (or of another store),
        then the journal's records past the graph's generation."""
        for _ in range(CATCH_UP_TRIES):
            snapshot = self._snapshot_header()
            if snapshot is None:
                self._forget()
                return
            _, generation, lineage = snapshot
            if lineage != self._lineage or generation > self._generation or not lineage:
                self._load_snapshot()
            if self._replay():
                return
        raise StoreError(f"the embedded store at {self.folder} cannot be read: its journal does not follow its "
                         f"snapshot (generation {self._generation}); remove the folder and ingest again")

    def _snapshot_header(self) -> tuple[int, int, str] | None:
        try:
            with self.path.open("rb") as handle:
                return _header(handle)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"the embedded store at {self.path} cannot be read ({error})") from None

    def _load_snapshot(self) -> None:
        """The graph, generation and lineage of the snapshot on disk, all from one open file."""
        try:
            with self.path.open("rb") as handle:
                fmt, generation, lineage = _header(handle)
                graph = pickle.load(handle)
                size = os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            self._forget()
            return
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise StoreError(f"the embedded store at {self.path} cannot be read ({error}); remove it and ingest again") from None
        if fmt == 1 and isinstance(graph, tuple) and len(graph) == 2 and graph[0] == 1:
            graph = graph[1]
        elif fmt not in (2, FORMAT):
            raise StoreError(f"the embedded store at {self.path} has format {fmt}, expected {FORMAT}; ingest again into a new KGREC_HOME")
        if not isinstance(graph, nx.MultiDiGraph):
            raise StoreError(f"the embedded store at {self.path} does not hold a graph; remove it and ingest again")
        self.graph, self._generation, self._lineage, self._snapshot_bytes = graph, generation, lineage, size
        self._journal = None

    def _replay(self) -> bool:
        """Apply the journal's records past the graph's generation, in order, up to the end
        or a torn record; False when the journal follows a newer snapshot than the one in
        memory (a compaction since): the caller reads the snapshot again."""
        try:
            handle = self.journal_path.open("rb")
        except FileNotFoundError:
            self._journal = None
            return True
        except OSError as error:
            raise StoreError(f"the embedded store's journal {self.journal_path} cannot be read ({error})") from None
        with handle:
            header = journal.read_header(handle)
            if header is None or header.lineage != self._lineage:
                self._journal = None  # left by another store, or its header never completed: nothing of ours
                return True
            if header.base > self._generation:
                return False
            position = self._journal if self._journal is not None and self._journal.header == header \
                else _JournalPosition(header, header.size, 0)
            end, count = position.end, position.records
            try:
                for generation, payload, end in journal.records(handle, position.end):
                    count += 1
                    if generation <= self._generation:
                        continue
                    if generation != self._generation + 1:
                        return False
                    _apply(self.graph, pickle.loads(payload))
                    self._generation = generation
            except OSError as error:
                raise StoreError(f"the embedded store's journal {self.journal_path} cannot be read ({error})") from None
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError) as error:
                raise StoreError(f"the embedded store's journal {self.journal_path} holds a record that cannot be "
                                 f"applied ({error}); remove the folder and ingest again") from None
            self._journal = _JournalPosition(header, end, count)
        return True

    def _change(self, op: Op, progress: Progress | None = None, compact: bool = False) -> bool:
        """Apply ``op`` to the current state under the cross-process lock and commit it: a
        journal record, or a new snapshot when ``compact`` or when the journal is due for one.
        False (and nothing written) when ``op`` changed nothing. On any failure the graph in
        memory is dropped and read again from the files by the next call (a refused merge
        fails before it changes anything)."""
        with self._mutex, self._locked():
            self.reload()
            _check(self.graph, op)
            try:
                if not _apply(self.graph, op, progress):
                    return False
                generation = self._generation + 1
                if compact or self._journal is None:  # a new store, or one without a journal of its own yet
                    self._compact(generation)
                else:
                    self._append(generation, op)
                self._version = self.version()
            except BaseException:
                self._forget()
                raise
            return True

    def _append(self, generation: int, op: Op) -> None:
        assert self._journal is not None
        record = journal.encode(generation, pickle.dumps(op, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            end = journal.append(self.journal_path, self._journal.end, record)
        except journal.Damaged as error:
            raise StoreError(f"the embedded store cannot take writes: {error}; remove the folder and ingest again") from None
        except OSError as error:
            raise StoreError(f"cannot write the embedded store's journal {self.journal_path} ({error})") from None
        self._generation = generation
        self._journal = _JournalPosition(self._journal.header, end, self._journal.records + 1)
        if self._journal.records >= COMPACT_RECORDS or end - self._journal.header.size >= max(COMPACT_MIN_BYTES, self._snapshot_bytes):
            self._compact(generation)

    def _compact(self, generation: int) -> None:
        """Write the graph in memory as the snapshot of ``generation``, then an empty journal
        after it. A crash in between leaves the new snapshot and the old journal, whose records
        are all at or below ``generation``: readers skip them."""
        lineage = self._lineage or secrets.token_hex(8)

        def snapshot(handle: BinaryIO) -> None:
            handle.write(b"%s %d %d %s\n" % (MAGIC, FORMAT, generation, lineage.encode("ascii")))
            pickle.dump(self.graph, handle, protocol=pickle.HIGHEST_PROTOCOL)

        line = journal.header_line(lineage, generation)
        try:
            journal.write_atomically(self.path, snapshot)
            journal.write_atomically(self.journal_path, lambda handle: handle.write(line))
            self._snapshot_bytes = self.path.stat().st_size
        except OSError as error:
            raise StoreError(f"cannot write the embedded store at {self.folder} ({error})") from None
        self._generation, self._lineage = generation, lineage
        self._journal = _JournalPosition(journal.Header(lineage, generation, len(line)), len(line), 0)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The exclusive writer lock on ``graph.lock`` (never replaced, so every writer locks
        the same file); released by the kernel if the process dies."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / LOCK_FILE, "a+b")
        except OSError as error:
            raise StoreError(f"cannot write the embedded store at {self.folder} ({error})") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, delta: GraphDelta, progress: Progress | None = None) -> None:
        nodes = [(label, list(zip(frame["id"].tolist(), properties(frame, ("id",))))) for label, frame in delta.nodes.items()]
        rels = [((rel.type, rel.src, rel.dst),
                 list(zip(frame["src"].tolist(), frame["dst"].tolist(), properties(frame, ("src", "dst")))))
                for rel, frame in delta.rels.items()]
        self._change(("merge", nodes, rels), progress)

    @_fresh
    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]:
        return {i for i in ids if (label, i) in self.graph}

    @_fresh
    def compare(self, delta: GraphDelta) -> dict[str, Changes]:
        """As :meth:`GraphStore.compare`, read from the graph in memory (no export)."""
        out: dict[str, Changes] = {}
        for label, frame in delta.nodes.items():
            frame = frame.drop_duplicates("id", keep="last")
            stored = [self.graph.nodes.get((label, i)) for i in frame["id"].tolist()]
            out[label] = out.get(label, Changes()).plus(changes_of(stored, properties(frame, ("id",))))
        for rel, frame in delta.rels.items():
            frame = frame.drop_duplicates(["src", "dst"], keep="last")
            stored = [self.graph.get_edge_data((rel.src, a), (rel.dst, b), key=rel.type)
                      for a, b in zip(frame["src"].tolist(), frame["dst"].tolist())]
            out[rel.type] = out.get(rel.type, Changes()).plus(changes_of(stored, properties(frame, ("src", "dst"))))
        return out

    @_fresh
    def counts(self) -> GraphCounts:
        labels = dict.fromkeys(LABELS, 0)
        for label, _ in self.graph.nodes:
            labels[label] += 1
        types: dict[str, int] = {}
        for _, _, rel_type in self.graph.edges(keys=True):
            types[rel_type] = types.get(rel_type, 0) + 1
        return GraphCounts(labels, dict(sorted(types.items())))

    @_fresh
    def node(self, ref: NodeRef) -> dict[str, object] | None:
        key = tuple(ref)
        if key not in self.graph:
            return None
        return {"id": ref.id, **self.graph.nodes[key]}

    def _neighbourhood(self, key: tuple[str, str]) -> set[tuple[str, str]]:
        return self.graph._succ[key].keys() | self.graph._pred[key].keys()

    def _adjacent(
        self, key: tuple[str, str], types: Collection[str] | None = None, among: set[tuple[str, str]] | None = None
    ) -> list[tuple[tuple[str, str], str, bool]]:
        """Relationships of a node as (neighbour, type, outgoing), optionally only of
        ``types`` and only to neighbours ``among`` a set."""
        succ, pred = self.graph._succ[key], self.graph._pred[key]
        out = [(v, t, True) for v in (succ if among is None else among & succ.keys()) for t in succ[v]]
        out += [(u, t, False) for u in (pred if among is None else among & pred.keys()) for t in pred[u]]
        return [a for a in out if types is None or a[1] in types]

    @_fresh
    def neighbours(self, ref: NodeRef, limit: int = 100) -> list[Neighbour]:
        key = tuple(ref)
        if key not in self.graph:
            return []
        found = sorted(self._adjacent(key), key=lambda a: (a[1], a[0][0], a[0][1]))
        return [Neighbour(NodeRef(*v), t, forward) for v, t, forward in found[:limit]]

    @_fresh
    def find_paths(self, queries: Sequence[PathQuery]) -> list[list[GraphPath]]:
        return [self._paths(q.src, q.dst, q.max_hops, q.limit, q.types) for q in queries]

    def _paths(
        self, src: NodeRef, dst: NodeRef, max_hops: int, limit: int, types: Collection[str] | None
    ) -> list[GraphPath]:
        start, goal = tuple(src), tuple(dst)
        if start not in self.graph or goal not in self.graph or start == goal:
            return []
        if max_hops <= 2:
            return self._short_paths(start, goal, max_hops, limit, types)
        found: list[GraphPath] = []

        def extend(nodes: list[tuple[str, str]], steps: list[PathStep]) -> None:
            if max_hops - len(steps) == 1:  # the last hop must reach the goal: look only there
                for rel_type, forward in self._between(nodes[-1], goal, types):
                    found.append(GraphPath(tuple(NodeRef(*n) for n in nodes + [goal]), tuple(steps + [PathStep(rel_type, forward)])))
                return
            here = nodes[-1]
            # With two hops left, only neighbours shared with the goal can lead there.
            shared = self._neighbourhood(here) & (self._neighbourhood(goal) | {goal}) if max_hops - len(steps) == 2 else None
            for nxt, rel_type, forward in self._adjacent(here, types, shared):
                if nxt in nodes:
                    continue
                step = steps + [PathStep(rel_type, forward)]
                if nxt == goal:
                    found.append(GraphPath(tuple(NodeRef(*n) for n in nodes + [nxt]), tuple(step)))
                else:
                    extend(nodes + [nxt], step)

        extend([start], [])
        found.sort(key=_path_order)
        return found[:limit]

    def _short_paths(
        self, start: tuple[str, str], goal: tuple[str, str], max_hops: int, limit: int, types: Collection[str] | None
    ) -> list[GraphPath]:
        """Paths of one or two hops, produced in the contract's order (length, then ids), so
        the search stops after ``limit`` instead of enumerating every shared neighbour."""
        found = [GraphPath((NodeRef(*start), NodeRef(*goal)), (PathStep(t, f),)) for t, f in sorted(self._between(start, goal, types))]
        if max_hops == 2:
            shared = (self._neighbourhood(start) & self._neighbourhood(goal)) - {start, goal}
            for middle in sorted(shared, key=lambda n: (n[1], n[0])):
                if len(found) >= limit:
                    break
                for first in sorted(self._between(start, middle, types)):
                    for second in sorted(self._between(middle, goal, types)):
                        found.append(GraphPath((NodeRef(*start), NodeRef(*middle), NodeRef(*goal)),
                                               (PathStep(*first), PathStep(*second))))
        found.sort(key=_path_order)
        return found[:limit]

    def _between(self, node: tuple[str, str], goal: tuple[str, str], types: Collection[str] | None) -> list[tuple[str, bool]]:
        """The relationships joining two nodes, as (type, points from node to goal)."""
        out = [(t, True) for t in (self.graph.get_edge_data(node, goal) or {})]
        out += [(t, False) for t in (self.graph.get_edge_data(goal, node) or {})]
        return [(t, forward) for t, forward in out if types is None or t in types]


    def remove_item(self, item_id: str) -> bool:
        return self._change(("remove", item_id))

    @_fresh
    def export(self) -> GraphExport:
        nodes: dict[str, pd.DataFrame] = {}
        for label in LABELS:
            rows = [{"id": node_id, **attrs} for (node_label, node_id), attrs in self.graph.nodes(data=True) if node_label == label]
            frame = pd.DataFrame(rows, columns=["id"] if not rows else None)
            nodes[label] = frame.sort_values("id", kind="stable").reset_index(drop=True)
        positions = {label: {node_id: i for i, node_id in enumerate(frame["id"])} for label, frame in nodes.items()}
        grouped: dict[RelKey, list[dict[str, object]]] = {}
        for (ul, uid), (vl, vid), rel_type, attrs in self.graph.edges(keys=True, data=True):
            grouped.setdefault(RelKey(rel_type, ul, vl), []).append(
                {"src": positions[ul][uid], "dst": positions[vl][vid], **attrs}
            )
        edges = {
            key: pd.DataFrame(rows).sort_values(["src", "dst"], kind="stable").reset_index(drop=True)
            for key, rows in sorted(grouped.items())
        }
        return GraphExport(with_entity_defaults(nodes), edges)


    def clear(self) -> None:
        self._change(("clear",), compact=True)


def _check(graph: nx.MultiDiGraph, op: Op) -> None:
    """Refuse a merge with a relationship joining a node that neither exists nor is added by it."""
    if op[0] != "merge":
        return
    _, nodes, rels = op
    added = {(label, node_id) for label, rows in nodes for node_id, _ in rows}
    for (rel_type, src_label, dst_label), rows in rels:
        for src, dst, _ in rows:
            for end in ((src_label, src), (dst_label, dst)):
                if end not in graph and end not in added:
                    raise StoreError(f"{rel_type} from {(src_label, src)} to {(dst_label, dst)}: a node it joins does not exist")


def _apply(graph: nx.MultiDiGraph, op: Op, progress: Progress | None = None) -> bool:
    """Apply a journal op (already checked) to ``graph``; False when it changed nothing."""
    kind = op[0]
    if kind == "remove":
        key = ("Item", op[1])
        if key not in graph:
            return False
        graph.remove_node(key)
        return True
    if kind == "clear":
        graph.clear()
        return True
    if kind != "merge":
        raise ValueError(f"unknown journal op {kind!r}")
    _, nodes, rels = op
    for label, rows in nodes:
        for node_id, props in rows:
            key = (label, node_id)
            if key in graph:
                graph.nodes[key].update(props)
            else:
                graph.add_node(key, **props)
        if progress:
            progress(len(rows))
    for (rel_type, src_label, dst_label), rows in rels:
        for src, dst, props in rows:
            u, v = (src_label, src), (dst_label, dst)
            if graph.has_edge(u, v, key=rel_type):
                graph.edges[u, v, rel_type].update(props)
            else:
                graph.add_edge(u, v, key=rel_type, **props)
        if progress:
            progress(len(rows))
    return True


def _header(handle: BinaryIO) -> tuple[int, int, str]:
    """(format, generation, lineage) from a snapshot's header, leaving ``handle`` at the
    pickle; format 2 has no lineage (""), format 1 no header: (1, 0, ""), ``handle`` back at
    the start."""
    line = handle.readline(128)
    parts = line.split()
    if len(parts) in (3, 4) and parts[0] == MAGIC and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2]), parts[3].decode("ascii", "replace") if len(parts) == 4 else ""
    handle.seek(0)
    return 1, 0, ""


def _stamp(path: Path) -> str:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return "-"
    except OSError as error:
        raise StoreError(f"the embedded store at {path.parent} cannot be read ({error})") from None
    return f"{status.st_ino}.{status.st_mtime_ns}.{status.st_size}"


def _path_order(path: GraphPath) -> tuple[object, ...]:
    return (len(path), tuple(n.id for n in path.nodes), tuple(s.type for s in path.steps))
