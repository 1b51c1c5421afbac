"""The embedded store: a networkx MultiDiGraph persisted to one file in a folder.

Nodes are keyed ``(label, id)``; parallel relationships are keyed by type, which gives
MERGE semantics (one relationship per type and ordered node pair). Every change is
written to a temporary file and renamed over the old one, so the folder always holds
either the state before a load or the state after it, never half of one.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import networkx as nx
import pandas as pd

from kg.errors import StoreError
from kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery, PathStep, RelKey
from kg.identifiers import LABELS
from kg.store.base import GraphCounts, GraphStore, Neighbour, Progress, with_entity_defaults
from kg.to_graph import properties

GRAPH_FILE = "graph.pickle"
FORMAT = 1


class EmbeddedStore(GraphStore):
    kind = "embedded"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.graph = self._read()

    def _read(self) -> nx.MultiDiGraph:
        path = self.folder / GRAPH_FILE
        if not path.exists():
            return nx.MultiDiGraph()
        try:
            with path.open("rb") as handle:
                version, graph = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise StoreError(f"the embedded store at {path} cannot be read ({error}); remove it and ingest again") from None
        if version != FORMAT:
            raise StoreError(f"the embedded store at {path} has format {version}, expected {FORMAT}; ingest again into a new KGREC_HOME")
        return graph

    def _write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / GRAPH_FILE
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            pickle.dump((FORMAT, self.graph), handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def load(self, delta: GraphDelta, progress: Progress | None = None) -> None:
        try:
            self._apply(delta, progress)
        except BaseException:
            self.graph = self._read()  # drop the half-applied change; the file was not touched
            raise
        self._write()

    def _apply(self, delta: GraphDelta, progress: Progress | None) -> None:
        graph = self.graph
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

    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]:
        return {i for i in ids if (label, i) in self.graph}

    def counts(self) -> GraphCounts:
        labels = dict.fromkeys(LABELS, 0)
        for label, _ in self.graph.nodes:
            labels[label] += 1
        types: dict[str, int] = {}
        for _, _, rel_type in self.graph.edges(keys=True):
            types[rel_type] = types.get(rel_type, 0) + 1
        return GraphCounts(labels, dict(sorted(types.items())))

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

    def neighbours(self, ref: NodeRef, limit: int = 100) -> list[Neighbour]:
        key = tuple(ref)
        if key not in self.graph:
            return []
        found = sorted(self._adjacent(key), key=lambda a: (a[1], a[0][0], a[0][1]))
        return [Neighbour(NodeRef(*v), t, forward) for v, t, forward in found[:limit]]

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
        key = ("Item", item_id)
        if key not in self.graph:
            return False
        self.graph.remove_node(key)
        self._write()
        return True

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
        self.graph = nx.MultiDiGraph()
        self._write()


def _path_order(path: GraphPath) -> tuple[object, ...]:
    return (len(path), tuple(n.id for n in path.nodes), tuple(s.type for s in path.steps))
