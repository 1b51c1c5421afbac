"""Shared by the UI tests: a small real catalog (the 150 most rated ml-100k movies, their 200
most active users, genres, directors, writers, producers and years) ingested into an
embedded store, and a tiny model trained on it once per test session.

The text embeddings are cached next to the downloaded data (``~/.cache/kgrec-test-data``),
so only the first session ever pays for encoding the catalog (~25 s on 2 cores).
"""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.ingest import ingest
from kgrec.kg.settings import Settings
from kgrec.kg.store.embedded import EmbeddedStore

ITEMS = 150
USERS = 200
RELATIONS = ("IN_GENRE", "DIRECTED_BY", "RELEASED_IN", "WRITTEN_BY", "PRODUCED_BY")
STAR_WARS = ("50", "172", "181")
"""Star Wars, The Empire Strikes Back, Return of the Jedi (all in the small catalog)."""
GEORGE_LUCAS = "George Lucas"

_lock = threading.Lock()
_built: dict[str, Path] = {}


def small_catalog(catalog: Catalog, items: int = ITEMS, users: int = USERS) -> Catalog:
    """The ``items`` most rated items, the ``users`` users who rated most of them, their
    interactions, and the item facts of a few relations."""
    popular = catalog.interactions["item_id"].value_counts().index[:items]
    interactions = catalog.interactions[catalog.interactions["item_id"].isin(popular)]
    active = interactions["user_id"].value_counts().index[:users]
    interactions = interactions[interactions["user_id"].isin(active)]
    triples = catalog.triples
    known = set(catalog.entities["entity_id"]) | set(popular)
    triples = triples[triples["head"].isin(popular) & triples["relation"].isin(RELATIONS) & triples["tail"].isin(known)]
    return Catalog(
        items=catalog.items[catalog.items["item_id"].isin(popular)].reset_index(drop=True),
        users=catalog.users[catalog.users["user_id"].isin(active)].reset_index(drop=True),
        interactions=interactions.reset_index(drop=True),
        triples=triples.reset_index(drop=True),
        entities=catalog.entities[catalog.entities["entity_id"].isin(set(triples["tail"]))].reset_index(drop=True),
        name="ml-100k-small",
    )


def trained_home(catalog: Catalog, root: Path, cache: Path) -> Path:
    """A KGREC_HOME with the small catalog ingested and a tiny model in models/default;
    built once per process (the UI tests and the browser tests share it). Tests that
    change the store copy it first (:func:`copy_home`)."""
    with _lock:
        if "home" in _built:
            return _built["home"]
        from kgrec.app.commands.train import train
        from kgrec.app.service import default_model_dir
        from kgrec.gnn.inference import KGRec

        home = root / "home"
        home.mkdir(parents=True)
        cache.mkdir(parents=True, exist_ok=True)
        (home / "cache").symlink_to(cache, target_is_directory=True)
        settings = Settings.from_env(environ={}, home=home, device="cpu")
        with EmbeddedStore(settings.store_dir) as store:
            ingest(small_catalog(catalog), store, settings, progress=False)
        train(settings, replace(KGRec.default_settings(), epochs=3, dim=16, layers=2, device="cpu"),
              default_model_dir(settings), progress=False)
        _built["home"] = home
        return home


def copy_home(home: Path, target: Path) -> Path:
    """A copy of a built home (store, model; the embedding cache stays shared)."""
    import shutil

    target.mkdir(parents=True)
    for part in home.iterdir():
        if part.is_symlink():
            (target / part.name).symlink_to(part.resolve(), target_is_directory=True)
        elif part.is_dir():
            shutil.copytree(part, target / part.name)
    return target


def settings_for(home: Path) -> Settings:
    return Settings.from_env(environ={}, home=home, device="cpu")


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def write_files(folder: Path, **files: str | bytes) -> list[Path]:
    """Uploaded files in ``folder``: ``items_csv="..."`` becomes ``items.csv`` (text or bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files.items():
        path = folder / name.replace("_csv", ".csv").replace("_jsonl", ".jsonl")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths.append(path)
    return paths
