"""The embedded store: a networkx MultiDiGraph persisted to one file in a folder.

Nodes are keyed ``(label, id)``; parallel relationships are keyed by type, which gives
MERGE semantics (one relationship per type and ordered node pair).

Several processes may write the same folder at once (``kgrec ingest`` runs while the app
serves and writes). Every change takes an exclusive ``fcntl`` lock on ``graph.lock``,
re-reads the file when another writer changed it since this process last read it, applies
only its own change to that current state, writes a temporary file of its own and renames
it over the old one; so the folder always holds a whole state, and no write undoes
another. The file starts with a header line carrying a generation counter, bumped by
every write, which :meth:`EmbeddedStore.version` reads cheaply; every read re-reads the
file first when the version moved, so readers see what other processes wrote.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import networkx as nx
import pandas as pd

from kg.errors import StoreError
from kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery, PathStep, RelKey
from kg.identifiers import LABELS
from kg.store.base import Changes, GraphCounts, GraphStore, Neighbour, Progress, changes_of, with_entity_defaults
from kg.to_graph import properties

GRAPH_FILE = "graph.pickle"
LOCK_FILE = "graph.lock"
TEMPORARY_PREFIX = ".graph-"
MAGIC = b"kgrec-graph"
FORMAT = 2
"""Format 2: a header line ``kgrec-graph 2 <generation>``, then the pickled graph. Format 1
(a pickled ``(1, graph)`` tuple, no header) is still read, as generation 0."""
EMPTY = "empty"
"""The version of a folder that holds no store yet."""

T = TypeVar("T")


def _fresh(method: Callable[..., T]) -> Callable[..., T]:
    """A read: under the in-process lock, after re-reading the file if another writer changed it."""
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
        self._mutex = threading.RLock()
        self.graph, self._generation, self._version = self._read()

    def version(self) -> str:
        """``<generation>.<inode>.<mtime ns>`` of the file now on disk (``empty`` when none):
        it changes with every write, also when the folder was emptied and written again."""
        try:
            with self.path.open("rb") as handle:
                return _version(handle, _header(handle)[1])
        except FileNotFoundError:
            return EMPTY
        except OSError as error:
            raise StoreError(f"the embedded store at {self.path} cannot be read ({error})") from None

    def reload(self) -> bool:
        """Read the file again when another writer changed it since this store last read or
        wrote it; True when it did."""
        with self._mutex:
            if self.version() == self._version:
                return False
            self.graph, self._generation, self._version = self._read()
            return True

    def _read(self) -> tuple[nx.MultiDiGraph, int, str]:
        """The graph on disk, its generation and its version, all from one open file."""
        try:
            with self.path.open("rb") as handle:
                fmt, generation = _header(handle)
                graph = pickle.load(handle)
                version = _version(handle, generation)
        except FileNotFoundError:
            return nx.MultiDiGraph(), 0, EMPTY
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise StoreError(f"the embedded store at {self.path} cannot be read ({error}); remove it and ingest again") from None
        if fmt == 1 and isinstance(graph, tuple) and len(graph) == 2 and graph[0] == 1:
            graph = graph[1]
        elif fmt != FORMAT:
            raise StoreError(f"the embedded store at {self.path} has format {fmt}, expected {FORMAT}; ingest again into a new KGREC_HOME")
        if not isinstance(graph, nx.MultiDiGraph):
            raise StoreError(f"the embedded store at {self.path} does not hold a graph; remove it and ingest again")
        return graph, generation, version

    def _change(self, change: Callable[[nx.MultiDiGraph], bool]) -> None:
        """Apply ``change`` to the current state under the cross-process lock and write the
        result, unless ``change`` returns False (nothing changed). On any failure the file
        is left as it was and the graph in memory is read back from it."""
        with self._mutex, self._locked():
            self.reload()
            try:
                if change(self.graph):
                    self._save()
            except BaseException:
                self.graph, self._generation, self._version = self._read()
                raise

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

    def _save(self) -> None:
        """Write the graph as the next generation: a temporary file of this writer's own,
        fsynced, then renamed over the store file (and the folder fsynced). A temporary
        file already there was left by a writer that died: it is removed."""
        generation = self._generation + 1
        for stale in self.folder.glob(f"{TEMPORARY_PREFIX}*.tmp"):  # only writers holding the lock make them
            stale.unlink(missing_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=TEMPORARY_PREFIX, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(b"%s %d %d\n" % (MAGIC, FORMAT, generation))
                pickle.dump(self.graph, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
                version = _version(handle, generation)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._generation, self._version = generation, version

    def load(self, delta: GraphDelta, progress: Progress | None = None) -> None:
        def apply(graph: nx.MultiDiGraph) -> bool:
            self._apply(graph, delta, progress)
            return True

        self._change(apply)

    @staticmethod
    def _apply(graph: nx.MultiDiGraph, delta: GraphDelta, progress: Progress | None) -> None:
        for label, frame in delta.nodes.items():
            for node_id, props in zip(frame["id"].tolist(), properties(frame, ("id",))):
                key = (label, node_id)
                if key in graph:
                    graph.nodes[key].update(props)
                else:
                    graph.add_node(key, **props)
            if progress:
                progress(len(frame))
        for rel, frame in delta.rels.items():
            for src, dst, props in zip(frame["src"].tolist(), frame["dst"].tolist(), properties(frame, ("src", "dst"))):
                u, v = (rel.src, src), (rel.dst, dst)
                if u not in graph or v not in graph:
                    raise StoreError(f"{rel.type} from {u} to {v}: a node it joins does not exist")
                if graph.has_edge(u, v, key=rel.type):
                    graph.edges[u, v, rel.type].update(props)
                else:
                    graph.add_edge(u, v, key=rel.type, **props)
            if progress:
                progress(len(frame))

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
        removed = False

        def remove(graph: nx.MultiDiGraph) -> bool:
            nonlocal removed
            removed = ("Item", item_id) in graph
            if removed:
                graph.remove_node(("Item", item_id))
            return removed

        self._change(remove)
        return removed

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
        def empty(graph: nx.MultiDiGraph) -> bool:
            graph.clear()
            return True

        self._change(empty)


def _header(handle: BinaryIO) -> tuple[int, int]:
    """(format, generation) from a store file's header, leaving ``handle`` at the pickle;
    a format-1 file has no header: (1, 0), ``handle`` back at the start."""
    line = handle.readline(64)
    parts = line.split()
    if len(parts) == 3 and parts[0] == MAGIC and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    handle.seek(0)
    return 1, 0


def _version(handle: BinaryIO, generation: int) -> str:
    status = os.fstat(handle.fileno())
    return f"{generation}.{status.st_ino}.{status.st_mtime_ns}"


def _path_order(path: GraphPath) -> tuple[object, ...]:
    return (len(path), tuple(n.id for n in path.nodes), tuple(s.type for s in path.steps))
