"""Events and items checked one by one (app/updates.py) with the catalog's rules: each bad
one rejected alone, with the field and the message interactions.csv / items.csv would give."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from kgrec.app.updates import MAX_TITLE, check_event_requests, check_events, check_items
from kgrec.kg.identifiers import ENTITY, ITEM

STORED = {ITEM: {"1", "2"}, ENTITY: {"genre:Drama"}}


def existing(label: str, ids: Iterable[str]) -> set[str]:
    return set(ids) & STORED.get(label, set())


def test_events_pass_or_fail_one_by_one() -> None:
    events, rejected = check_events([
        {"user_id": "u", "item_id": "1", "rating": 4},
        {"user_id": 7, "item_id": 2, "timestamp": "2024-01-01T00:00:00Z"},
        {"user_id": "u", "item_id": "3"},
        {"user_id": "u", "item_id": "2", "rating": "NaN"},
        {"user_id": "u", "item_id": "2", "rating": {"value": 3}},
        {"user_id": "\udcff", "item_id": "2"},
        [1, 2],
    ], existing, (0.0, 5.0), now=1000.0)
    assert events[["user_id", "item_id", "index"]].values.tolist() == [["u", "1", 0], ["7", "2", 1]]
    assert events["timestamp"].tolist() == [1000.0, 1704067200.0]
    assert [(r.index, r.field, r.reason) for r in rejected] == [
        (2, "item_id", "unknown_item"), (3, "rating", "invalid_rating"), (4, "rating", "invalid_rating"),
        (5, "user_id", "invalid_text"), (6, None, "not_an_object")]
    assert rejected[0].message == "item_id '3' is not an item of this catalog or the store"


def test_requests_checked_together_are_each_answered_as_if_alone() -> None:
    first = [{"user_id": "u", "item_id": "1", "timestamp": 5}, {"user_id": "u", "item_id": "3"},
             {"user_id": "u", "item_id": "1", "timestamp": 9}]
    second = [{"user_id": "u", "item_id": "1", "timestamp": 1}, {"user_id": "v", "item_id": "2", "rating": 11}]
    together = check_event_requests([first, [], second], existing, (0.0, 5.0), now=1000.0)
    for raw, (events, rejected) in zip([first, [], second], together):
        alone, alone_rejected = check_events(raw, existing, (0.0, 5.0), now=1000.0)
        pd.testing.assert_frame_equal(events, alone, check_dtype=False, check_index_type=False)
        assert rejected == alone_rejected
    (events, rejected), _, (other, other_rejected) = together
    assert events[["item_id", "index", "timestamp"]].values.tolist() == [["1", 2, 9.0]]
    assert [(r.index, r.reason) for r in rejected] == [(0, "duplicate_interaction"), (1, "unknown_item")]
    assert other[["item_id", "index"]].values.tolist() == [["1", 0]]  # the pair of the first request: no repeat here
    assert [(r.index, r.reason) for r in other_rejected] == [(1, "rating_out_of_range")]


def test_items_are_checked_like_catalog_files() -> None:
    catalog, ids, rejected = check_items([
        {"title": "A new film", "properties": {"year": 2024.0},
         "triples": [{"relation": "in genre", "tail": "genre:Drama"}, {"head": "m.0abc", "relation": "DIRECTED"}]},
        {"item_id": "1", "title": "already there"},
        {"item_id": "x", "title": "t" * (MAX_TITLE + 1)},
        {"item_id": "y", "title": "bad link", "triples": [{"relation": "INTERACTED", "tail": "genre:Drama"}]},
        {"item_id": "z", "title": "both ends", "triples": [{"relation": "R", "head": "a", "tail": "b"}]},
    ], existing)
    assert len(ids) == 1 and ids[0].startswith("new-")
    assert catalog.items["year"].tolist() == ["2024"]
    assert catalog.triples[["head", "relation", "tail"]].values.tolist() == [
        [ids[0], "IN_GENRE", "genre:Drama"], ["m.0abc", "DIRECTED", ids[0]]]
    assert [(r.index, r.field, r.reason) for r in rejected] == [
        (1, "item_id", "duplicate_id"), (2, "title", "too_long"), (3, "triples[0].relation", "reserved_relation"),
        (4, "triples[0]", "invalid_triple")]
