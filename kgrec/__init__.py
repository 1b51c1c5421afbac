"""kgrec as a Python library: the CLI's verbs as functions, with the CLI's settings and errors.

    import kgrec

    kgrec.synth("/tmp/catalog", users=300, items=200, interactions=4000)   # any catalog folder will do
    kgrec.ingest("/tmp/catalog", home="/tmp/kgrec")          # or dataset="ml-100k"
    model = kgrec.train(home="/tmp/kgrec", epochs=50)        # a Model, saved under home
    model.recommend([{"id": 1, "liked": ["50", "181"], "k": 5}])
    model.explain("172", liked=["50", "181"])
    kgrec.evaluate("warm", home="/tmp/kgrec", seeds=[0]).table()

Every function takes ``home`` (``KGREC_HOME``) and ``store`` (``embedded`` or ``neo4j``)
like the CLI's ``--home`` and ``--store``; the rest of the settings come from the same
``KGREC_*`` environment variables (:class:`kgrec.kg.settings.Settings`). Errors a caller can cause
are :class:`KgrecError`, with the message the CLI would print.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings

if TYPE_CHECKING:
    from kgrec.app.service import RecommendationService
    from kgrec.gnn.evaluate import EvaluationResult
    from kgrec.kg.ingest import IngestResult

__all__ = ["KgrecError", "Model", "Settings", "evaluate", "ingest", "load", "settings", "synth", "train"]


def settings(home: Path | str | None = None, store: str | None = None) -> Settings:
    """The settings the CLI would use with ``--home home --store store``."""
    return Settings.from_env(home=home, store=store)


def synth(out: Path | str, *, users: int, items: int, interactions: int, seed: int = 0,
          progress: bool = False) -> Path:
    """``kgrec data synth``: write a seeded synthetic catalog of that size into ``out``
    (:mod:`kgrec.kg.datasets.synth`); returns the folder."""
    from kgrec.kg.datasets.synth import SynthSpec, generate

    spec = SynthSpec(users=users, items=items, interactions=interactions, seed=seed)
    return generate(spec, Path(out), progress=progress).folder


def ingest(catalog_dir: Path | str | None = None, *, dataset: str | None = None, home: Path | str | None = None,
           store: str | None = None, strict: bool = False, pseudonymize: bool = False,
           progress: bool = False) -> IngestResult:
    """``kgrec ingest --catalog catalog_dir`` (or ``--dataset dataset``): validate, then load
    into the store; returns the report and where it was written."""
    from kgrec.app.commands.ingest import ingest_source

    if (catalog_dir is None) == (dataset is None):
        raise KgrecError("give either a catalog folder or dataset=NAME")
    return ingest_source(settings(home, store), dataset, None if catalog_dir is None else Path(catalog_dir),
                         strict=strict, pseudonymize=pseudonymize, progress=progress)


def train(*, home: Path | str | None = None, store: str | None = None, out: Path | str | None = None,
          progress: bool = False, **changes: object) -> Model:
    """``kgrec train``: the model on everything the store holds, saved to ``out`` (default
    ``home/models/default``). ``changes`` are :class:`kgrec.gnn.recommender.TrainSettings` fields
    (``epochs``, ``dim``, ``lr``, ``device``, ...) over the model's own defaults."""
    from kgrec.app.commands.train import train as run_train
    from kgrec.app.service import default_model_dir
    from kgrec.gnn.inference import KGRec

    config = settings(home, store)
    try:
        train_settings = dataclasses.replace(KGRec.default_settings(), **changes)  # type: ignore[arg-type]
    except TypeError as error:
        raise KgrecError(f"unknown training setting: {error}") from None
    folder = Path(out) if out is not None else default_model_dir(config)
    run_train(config, train_settings, folder, progress=progress)
    return load(folder, home=home, store=store)


def load(model_dir: Path | str | None = None, *, home: Path | str | None = None, store: str | None = None) -> Model:
    """A saved model serving the current store (``kgrec recommend --model model_dir``)."""
    from kgrec.app.service import RecommendationService

    config = settings(home, store)
    return Model(RecommendationService(config, Path(model_dir) if model_dir is not None else None))


def evaluate(protocol: str, *, home: Path | str | None = None, store: str | None = None, seeds: Sequence[int] = (0,),
             recommenders: Sequence[str] | None = None, split_dir: Path | str | None = None,
             **changes: object) -> EvaluationResult:
    """``kgrec evaluate --protocol protocol``: the model and the baselines on the same splits.
    ``recommenders`` names a subset (``["most-popular", "kgrec"]``); ``changes`` are
    training settings applied to every trained recommender (``epochs=20``)."""
    from kgrec.app.commands.evaluate import evaluate_store

    return evaluate_store(settings(home, store), protocol, list(seeds), list(recommenders) if recommenders else None,
                          dict(changes), Path(split_dir) if split_dir is not None else None)


class Model:
    """A trained model over the store it was trained on: the recommendation contract of
    ``kgrec recommend --batch`` and the explanations of ``kgrec explain``. Close it (or use
    it in a ``with`` block) to release the store."""

    def __init__(self, service: RecommendationService) -> None:
        self.service = service

    def recommend(self, requests: Iterable[Mapping[str, object]], k: int = 20,
                  explain: bool = False) -> list[dict[str, object]]:
        """One answer per request, in order (``{"id", "items", "fallback", "error"}``); a
        bad request gets its own ``error`` and the others are answered."""
        return self.service.recommend([dict(r) for r in requests], default_k=k, explain=explain)

    def explain(self, item_id: str, *, user_id: str | None = None, liked: Sequence[str] = (),
                attributes: Mapping[str, str] | None = None, limit: int = 3) -> list[dict[str, object]]:
        """Up to ``limit`` real graph paths from the user (known, or described by liked
        items and attributes) to ``item_id``, each with its sentence and score."""
        request: dict[str, object] = {"id": 1}
        if user_id is not None:
            request["user_id"] = user_id
        if liked:
            request["liked"] = list(liked)
        if attributes:
            request["attributes"] = dict(attributes)
        return self.service.explain_item(request, item_id, limit=limit)

    def close(self) -> None:
        self.service.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
