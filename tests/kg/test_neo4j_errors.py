"""Every driver or server error from the Neo4j store is one StoreError sentence (a real Neo4j)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import neo4j_settings, open_neo4j
from kgrec.kg.errors import KgrecError, StoreError


def _one_sentence(error: BaseException) -> str:
    text = str(error)
    assert isinstance(error, StoreError) and isinstance(error, KgrecError)
    assert "\n" not in text and "Traceback" not in text and "{neo4j_code" not in text
    return text


def test_an_http_uri_is_refused_in_one_sentence(tmp_path: Path) -> None:
    from kgrec.kg.store.neo4j import Neo4jStore

    settings = replace(neo4j_settings(tmp_path), neo4j_uri="http://127.0.0.1:7474")
    with pytest.raises(StoreError) as caught:
        Neo4jStore(settings)
    assert "not a Bolt address" in _one_sentence(caught.value)


def test_a_wrong_database_name_is_one_sentence(tmp_path: Path) -> None:
    from kgrec.kg.store.neo4j import Neo4jStore

    settings = replace(neo4j_settings(tmp_path), neo4j_database="nosuchdatabase")
    with pytest.raises(StoreError) as caught:
        Neo4jStore(settings)
    assert "no database 'nosuchdatabase'" in _one_sentence(caught.value)


def test_clear_maps_server_errors(tmp_path: Path) -> None:
    store = open_neo4j(tmp_path)
    try:
        store.database = "nosuchdatabase"  # type: ignore[attr-defined]
        with pytest.raises(StoreError) as caught:
            store.clear()
        assert "KGREC_NEO4J_DATABASE" in _one_sentence(caught.value)
    finally:
        store.close()


def test_a_closed_driver_is_one_sentence_in_queries_and_clear(tmp_path: Path) -> None:
    store = open_neo4j(tmp_path)
    store.close()
    for operation in (store.counts, store.clear, store.export):
        with pytest.raises(StoreError) as caught:
            operation()
        _one_sentence(caught.value)


def test_wrong_password_is_one_sentence(tmp_path: Path) -> None:
    from kgrec.kg.store.neo4j import Neo4jStore

    settings = replace(neo4j_settings(tmp_path), neo4j_password="certainly-wrong")
    with pytest.raises(StoreError) as caught:
        Neo4jStore(settings)
    assert "check KGREC_NEO4J_USER and KGREC_NEO4J_PASSWORD" in _one_sentence(caught.value)
