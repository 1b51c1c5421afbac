"""The graph form that stores load and export: nodes per label, relationships per (type, labels)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from kgrec.kg.identifiers import RelKey


@dataclass
class GraphDelta:
    """What one ingest writes.

    ``nodes[label]`` has an ``id`` column and one column per property (NaN/None = absent).
    ``rels[key]`` has ``src`` and ``dst`` id columns and one column per property.
    """

    nodes: dict[str, pd.DataFrame] = field(default_factory=dict)
    rels: dict[RelKey, pd.DataFrame] = field(default_factory=dict)

    def node_count(self) -> int:
        return sum(len(f) for f in self.nodes.values())

    def rel_count(self) -> int:
        return sum(len(f) for f in self.rels.values())


@dataclass
class GraphExport:
    """The whole graph as arrays, for training and serving.

    ``nodes[label]`` is sorted by ``id`` with one column per property; a node's index is
    its row position. ``edges[key]`` has integer ``src`` and ``dst`` columns (positions in
    ``nodes[key.src]`` and ``nodes[key.dst]``), sorted, plus the relationship properties
    (``rating`` and ``ts`` for INTERACTED).
    """

    nodes: dict[str, pd.DataFrame]
    edges: dict[RelKey, pd.DataFrame]

    def ids(self, label: str) -> list[str]:
        frame = self.nodes.get(label)
        return [] if frame is None else frame["id"].tolist()

    def index(self, label: str) -> dict[str, int]:
        return {node_id: i for i, node_id in enumerate(self.ids(label))}

    def edge_index(self, key: RelKey) -> np.ndarray:
        """A ``(2, E)`` int64 array of node positions, as PyTorch Geometric expects."""
        frame = self.edges[key]
        return np.vstack([frame["src"].to_numpy(np.int64), frame["dst"].to_numpy(np.int64)])


class PathStep(NamedTuple):
    """One hop of a path: the relationship type, and whether it points forward along the path."""

    type: str
    forward: bool


class NodeRef(NamedTuple):
    label: str
    id: str


@dataclass(frozen=True)
class PathQuery:
    """Which paths to find: simple paths of 1..``max_hops`` relationships between ``src``
    and ``dst``, in either direction, only of ``types`` when given, at most ``limit``."""

    src: NodeRef
    dst: NodeRef
    max_hops: int = 3
    limit: int = 100
    types: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not 1 <= int(self.max_hops) <= 5:
            raise ValueError("max_hops must be between 1 and 5")


@dataclass(frozen=True)
class GraphPath:
    """A path of at most three hops read from a store: ``len(nodes) == len(steps) + 1``."""

    nodes: tuple[NodeRef, ...]
    steps: tuple[PathStep, ...]

    def __len__(self) -> int:
        return len(self.steps)
