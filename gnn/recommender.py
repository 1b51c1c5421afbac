"""The one interface every recommender in kgrec implements: the model and each baseline.

One trainer and one evaluator treat them all the same (after RecBole's
``AbstractRecommender``, without its global config).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from kgrec.kg.device import check_device
from kgrec.kg.graph import GraphExport


@dataclass(frozen=True)
class TrainSettings:
    """How a recommender trains. Each recommender has its own defaults
    (:meth:`Recommender.default_settings`); a caller changes fields of those (for example
    ``replace(KGRec.default_settings(), epochs=50)``) and ``fit`` trains with exactly what
    it is given, so what is recorded is what was used."""

    dim: int = 64
    layers: int = 3
    epochs: int = 300
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 2048
    max_steps_per_epoch: int = 128
    """The batch grows past ``batch_size`` where an epoch would have more steps than this
    (kgrec's loop). A full-graph step costs time in proportion to the graph, so with a fixed
    batch an epoch costs O(E²); with at most this many steps it costs O(E). ml-1m (110
    steps of 8192) and smaller catalogs are not affected."""
    patience: int = 10
    """Epochs without a better validation NDCG@20 before stopping."""
    eval_every: int = 1
    valid_users: int = 10_000
    """Early stopping ranks all items for at most this many validation users (a seeded
    sample): enough for a stable NDCG@20, and bounded on a catalog with millions of users."""
    seed: int = 0
    device: str = "auto"
    """``auto`` (``cuda`` when available, else ``cpu``), ``cpu``, ``cuda`` or ``cuda:N``."""
    amp: bool = True
    """Mixed precision on CUDA (bfloat16 where supported, else float16); ignored on the CPU."""
    full_graph_max_edges: int = 100_000_000
    """Graphs with more (directed) edges than this train on sampled neighbourhoods without
    trying the whole graph (its edge arrays alone would take ~7 GB); below it the faster
    mode is measured (``kgrec.gnn.train.PROBE_MIN_EDGES``)."""
    num_neighbors: int = 15
    """Neighbours sampled per node and hop when training on sampled neighbourhoods."""

    def __post_init__(self) -> None:
        check_device(self.device)


@dataclass
class TrainData:
    """What a recommender may learn from.

    ``export`` is the whole graph (all items, entities and users, with their knowledge-graph
    and attribute edges). Interactions are given separately because a split decides which
    of them a recommender may see: ``train`` and ``valid`` are ``(2, E)`` arrays of
    (user index, item index) into ``export.nodes["User"]`` / ``export.nodes["Item"]``;
    ``valid`` is used only for early stopping. ``item_text`` and ``entity_text`` are text
    embeddings aligned with the export's Item and Entity rows.
    """

    export: GraphExport
    train: np.ndarray
    valid: np.ndarray
    item_text: np.ndarray
    entity_text: np.ndarray
    train_ratings: np.ndarray | None = None

    @property
    def n_users(self) -> int:
        return len(self.export.nodes["User"]) if "User" in self.export.nodes else 0

    @property
    def n_items(self) -> int:
        return len(self.export.nodes["Item"])


@dataclass(frozen=True)
class UserQuery:
    """A user to recommend for: a known user, or a new one described by any mix of liked
    items, attribute entities and an embedded free-text description.

    ``user`` is an index into the export's users (None for a new user); ``liked`` are item
    indices (for a known user: interactions on top of those seen in training);
    ``attributes`` are Entity indices; ``text`` is the encoder's embedding of free text.
    """

    user: int | None = None
    liked: Sequence[int] = field(default_factory=tuple)
    attributes: Sequence[int] = field(default_factory=tuple)
    text: np.ndarray | None = None

    @property
    def is_empty(self) -> bool:
        return self.user is None and not self.liked and not self.attributes and self.text is None


class Recommender(ABC):
    """Scores every item of the export for a batch of users."""

    name: str

    @classmethod
    def default_settings(cls) -> TrainSettings:
        """The settings this recommender trains with unless told otherwise."""
        return TrainSettings()

    @abstractmethod
    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        """Learn from ``data`` with exactly ``settings``; trained recommenders early-stop
        on ``data.valid``."""

    @abstractmethod
    def score(self, queries: Sequence[UserQuery]) -> torch.Tensor:
        """A ``(len(queries), n_items)`` float tensor on the CPU; higher is better.
        Masking of already-seen items is the caller's job."""
