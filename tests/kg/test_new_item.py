"""One item as a one-item catalog (kg/new_item.py), over a real embedded store holding the
tiny catalog."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kgrec.kg.errors import KgrecError
from kgrec.kg.ingest import ingest
from kgrec.kg.new_item import one_item_catalog, parse_choice, parse_properties, resolve_link, same_item
from kgrec.kg.reader import read_catalog
from kgrec.kg.settings import Settings
from kgrec.kg.store.embedded import EmbeddedStore
from conftest import FIXTURES


@pytest.fixture
def tiny_store(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = EmbeddedStore(tmp_path / "store")
    catalog, files, rejections = read_catalog(FIXTURES / "tiny")
    ingest(catalog, store, settings, files, rejections, progress=False)
    yield store
    store.close()


def _named(name: str) -> list[str]:
    return {"michael mann": ["mann"]}.get(name.casefold(), [])


def test_a_one_item_catalog(tiny_store: EmbeddedStore) -> None:
    links = [parse_choice("IN_GENRE|genre:crime"), resolve_link("directed by = Michael Mann", tiny_store, _named)]
    assert links == [("IN_GENRE", "genre:crime"), ("DIRECTED_BY", "mann")]
    catalog = one_item_catalog(tiny_store, " Thief ", "A safecracker's last job.", "", parse_properties("year = 1981"),
                               links + links[:1])
    [row] = catalog.items.to_dict("records")
    assert row["title"] == "Thief" and row["year"] == "1981" and row["item_id"].startswith("new-")
    assert catalog.triples[["relation", "tail"]].values.tolist() == [["IN_GENRE", "genre:crime"], ["DIRECTED_BY", "mann"]]


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: one_item_catalog(s, "  "), "the title is empty"),
    (lambda s: one_item_catalog(s, "Heat again", item_id="heat"), "an item with id 'heat' already exists"),
    (lambda s: one_item_catalog(s, "Linked", links=[("IN_GENRE", "genre:none")]), "no entity has the id 'genre:none'"),
    (lambda s: parse_properties("title = x"), "is given twice or is reserved"),
    (lambda s: parse_properties("2bad = x"), "write one 'name = value' per line"),
    (lambda s: parse_choice("IN_GENRE"), "pick links from the list"),
    (lambda s: resolve_link("DIRECTED_BY Michael Mann", s, _named), "write one 'RELATION = entity' per line"),
    (lambda s: resolve_link("BAD`REL = mann", s, _named), "is not a valid relation name"),
    (lambda s: resolve_link("DIRECTED_BY = Nobody", s, _named), "no entity has the id or name 'Nobody'"),
    (lambda s: resolve_link("DIRECTED_BY = twins", s, lambda _: ["a", "b"]), "2 entities are named 'twins'"),
])
def test_bad_input_is_one_sentence(tiny_store: EmbeddedStore, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KgrecError) as raised:
        call(tiny_store)
    assert message in str(raised.value)


def test_the_same_item_is_found_by_title_and_description() -> None:
    items = pd.DataFrame({"id": ["a", "b"], "title": ["Heat", "Heat"], "description": ["A thief.", None]})
    assert same_item(items, " heat ", "a thief.") == "a"
    assert same_item(items, "Heat", "") == "b"
    assert same_item(items, "Heat", "Another film.") is None
