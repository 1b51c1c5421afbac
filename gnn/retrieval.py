r"""Which items a request is scored against: all of them (exact), or the candidates of an
approximate nearest-neighbour search, re-ranked exactly.

What the model scores (:meth:`kgrec.gnn.inference.KGRec.score`): the GNN's dot product
:math:`g_{ui} = z_u \cdot z_i` of the user's and the item's final vectors and, when the
model has an item–item component (EASE, catalogs up to :data:`kgrec.gnn.ease.MAX_ITEMS` items),
the blend of :mod:`kgrec.gnn.fusion`: per-user standardised :math:`g` and item–item scores, new
items aligned onto the warm items' scale. Only :math:`g` is a dot product, so candidates
are retrieved on it, and then scored exactly: ``KGRec.score(..., candidates=...)`` gives
each candidate the score the whole row would (the per-user standardisation comes from the
warm items' embedding sum and Gram matrix, not from scoring them all). With the item–item
component, an item far down the dot-product ranking but lifted by item–item scores can be
missed; without it (large catalogs) the candidates' order is the exact order.

Maximum inner product search is not a nearest-neighbour search, so it is reduced to one
(Bachrach et al., RecSys 2014): each item vector :math:`v` becomes
:math:`[v, \sqrt{M^2 - \lVert v\rVert^2}] / M` (:math:`M` the largest norm: every row has
length 1) and a query :math:`[u / \lVert u\rVert, 0]`; their cosine is
:math:`u \cdot v / (\lVert u\rVert M)`, the same order as the dot product. Both indexes
compare by cosine on these vectors:

- :class:`FaissIndex` — in process, FAISS's HNSW (``IndexHNSWFlat``);
- :class:`Neo4jIndex` — the vectors as a property of the :Item nodes with Neo4j's vector
  index (HNSW, ``db.index.vector.queryNodes``), so that stateless replicas serve from one
  Neo4j (each replica still holds the model and the vectors it re-ranks with).

:func:`choose_retrieval` picks exact below ``ann_min_items`` items (``KGREC_ANN_MIN_ITEMS``)
and an index above it: Neo4j's on the Neo4j store, FAISS on the embedded one;
``KGREC_RETRIEVAL`` (``exact``, ``faiss``, ``neo4j``) overrides.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import RETRIEVALS

CANDIDATES = 200
"""Candidates retrieved beyond ``k`` and the items a request excludes (the user's own)."""
HNSW_LINKS = 32
"""FAISS HNSW: neighbours per node (``M``)."""
HNSW_BUILD = 200
"""FAISS HNSW: the candidate list while building (``efConstruction``)."""
HNSW_SEARCH = 512
"""FAISS HNSW: the least candidate list while searching (``efSearch``; at least ``2 n``).
On 20k items in 50 clusters of 32 dimensions, the exact top 20 is within the top 220 found
with 0.97 recall at 128, 0.99 at 256, 0.997 at 512 (0.5 ms a query)."""


def mips_items(vectors: np.ndarray) -> np.ndarray:
    """``(I, d + 1)`` unit rows whose cosine with :func:`mips_queries` orders items as the
    dot product with the raw vectors does (see the module docstring)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1)
    top = float(norms.max()) if norms.size and norms.max() > 0 else 1.0
    extra = np.sqrt(np.clip(top**2 - norms**2, 0.0, None))
    return (np.hstack([v, extra[:, None]]) / top).astype(np.float32)


def mips_queries(users: np.ndarray) -> np.ndarray:
    """``(Q, d + 1)``: each user vector scaled to length 1, with a 0 appended."""
    u = np.asarray(users, dtype=np.float32)
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    return np.hstack([u / np.where(norms > 0, norms, 1.0), np.zeros((len(u), 1), np.float32)]).astype(np.float32)


class ItemIndex(ABC):
    """Candidate items for user vectors, by the dot product (approximately)."""

    kind: str

    @abstractmethod
    def search(self, users: np.ndarray, n: int) -> np.ndarray:
        """``(Q, n)`` item positions, best first, for ``users`` ``(Q, d)``; ``-1`` pads a row
        with fewer than ``n`` items."""


class ExactIndex(ItemIndex):
    """Every item's dot product: the reference an approximate index is measured against."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float32)

    def search(self, users: np.ndarray, n: int) -> np.ndarray:
        scores = np.asarray(users, dtype=np.float32) @ self.vectors.T
        n_found = min(n, scores.shape[1])
        part = np.argpartition(-scores, n_found - 1, axis=1)[:, :n_found]
        order = np.take_along_axis(-scores, part, axis=1).argsort(axis=1, kind="stable")
        return _padded(np.take_along_axis(part, order, axis=1), n)


class FaissIndex(ItemIndex):
    """FAISS's HNSW over :func:`mips_items` vectors, in process."""

    kind = "faiss"

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        items = mips_items(vectors)
        self.index = faiss.IndexHNSWFlat(items.shape[1], HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = HNSW_BUILD
        self.index.add(items)

    def search(self, users: np.ndarray, n: int) -> np.ndarray:
        self.index.hnsw.efSearch = max(HNSW_SEARCH, 2 * n)
        _, found = self.index.search(mips_queries(users), min(n, self.index.ntotal))
        return _padded(found.astype(np.int64), n)


class VectorStore(Protocol):
    """What :class:`Neo4jIndex` needs of a store (:class:`kgrec.kg.store.neo4j.Neo4jStore`)."""

    def vectors_token(self) -> str | None: ...

    def write_item_vectors(self, ids: Sequence[str], vectors: np.ndarray, token: str) -> None: ...

    def search_item_vectors(self, vectors: np.ndarray, n: int) -> list[list[str]]: ...


class Neo4jIndex(ItemIndex):
    """Neo4j's vector index over the items' :func:`mips_items` vectors, written to the store
    when the store holds other vectors (another model, another catalog state) than these;
    a replica that finds them there already writes nothing."""

    kind = "neo4j"

    def __init__(self, store: VectorStore, item_ids: Sequence[str], vectors: np.ndarray) -> None:
        self.store = store
        self.position = {str(i): n for n, i in enumerate(item_ids)}
        token = vectors_token(item_ids, vectors)
        if store.vectors_token() != token:
            store.write_item_vectors([str(i) for i in item_ids], mips_items(vectors), token)

    def search(self, users: np.ndarray, n: int) -> np.ndarray:
        found = self.store.search_item_vectors(mips_queries(users), n)
        rows = [[self.position[i] for i in ids if i in self.position] for ids in found]
        out = np.full((len(rows), n), -1, dtype=np.int64)
        for r, row in enumerate(rows):
            out[r, : len(row)] = row[:n]
        return out


def vectors_token(item_ids: Sequence[str], vectors: np.ndarray) -> str:
    """A digest of the ids and vectors: equal tokens, equal vectors."""
    digest = hashlib.sha256("\x00".join(map(str, item_ids)).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def choose_retrieval(setting: str, n_items: int, min_items: int, store_kind: str) -> str:
    """``exact``, ``faiss`` or ``neo4j`` for a catalog of ``n_items``: ``setting`` (a
    checked :attr:`kgrec.kg.settings.Settings.retrieval`) unless it is ``auto`` (see the module
    docstring)."""
    if setting != "auto":
        return setting
    if n_items < min_items:
        return "exact"
    return "neo4j" if store_kind == "neo4j" else "faiss"


def build_index(kind: str, item_ids: Sequence[str], vectors: np.ndarray, store: object | None = None) -> ItemIndex | None:
    """The index of a :func:`choose_retrieval` kind over the items; None for exact."""
    if kind == "exact":
        return None
    if kind == "faiss":
        return FaissIndex(vectors)
    if kind == "neo4j":
        return Neo4jIndex(store, item_ids, vectors)  # type: ignore[arg-type]
    raise KgrecError(f"unknown retrieval {kind!r}: choose one of {', '.join(RETRIEVALS)}")


def candidate_rows(found: Sequence[np.ndarray], always: np.ndarray) -> np.ndarray:
    """``(Q, C)`` candidates: each of ``found`` (``-1`` dropped) and the ``always`` positions
    (items added since the index was built), padded by repeating a row's first candidate so
    that the rows have one length."""
    rows = [np.unique(np.concatenate([row[row >= 0], always]).astype(np.int64)) for row in found]
    width = max((len(r) for r in rows), default=0)
    out = np.zeros((len(rows), max(width, 1)), dtype=np.int64)
    for r, row in enumerate(rows):
        if len(row):
            out[r] = np.concatenate([row, np.full(width - len(row), row[0])])
    return out


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row of ``exact`` (``-1`` ignored) that ``found`` also holds."""
    shares = [np.isin(e[e >= 0], f).mean() for f, e in zip(found, exact) if (e >= 0).any()]
    return float(np.mean(shares)) if shares else 1.0


def _padded(found: np.ndarray, n: int) -> np.ndarray:
    if found.shape[1] >= n:
        return found[:, :n]
    return np.hstack([found, np.full((found.shape[0], n - found.shape[1]), -1, dtype=np.int64)])
