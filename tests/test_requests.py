"""Parsing the recommendation contract's requests: each bad request says what is wrong."""
from __future__ import annotations

import pytest

from app.requests import Request, RequestError, parse_request


def test_known_and_new_users() -> None:
    assert parse_request({"id": 7, "user_id": 1}) == Request(id=7, user_id="1")
    new = parse_request({"id": "a", "liked": [1, "2", 1], "attributes": {"gender": "female", "age": 25.0, "zip": ""},
                         "text": "  space opera  ", "k": 5, "candidates": ["1", "3"], "exclude": ["4"]})
    assert new.liked == ("1", "2") and new.attributes == (("gender", "female"), ("age", "25"))
    assert (new.text, new.k, new.candidates, new.exclude) == ("space opera", 5, ("1", "3"), ("4",))
    assert parse_request({"id": 1, "user_id": 1, "exploration": 0.3}).exploration == 0.3
    assert parse_request({"id": 1, "user_id": 1, "exploration": 1}).exploration == 1.0
    assert parse_request({"id": 1, "user_id": 1}).exploration is None
    assert parse_request({"id": 1}).is_empty
    assert parse_request({"id": 1, "text": "   "}).is_empty


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"id": 1, "k": 0}, "k must be a positive integer"),
        ({"id": 1, "k": "5"}, "k must be a positive integer"),
        ({"id": 1, "k": True}, "k must be a positive integer"),
        ({"id": 1, "k": 2.5}, "k must be a positive integer"),
        ({"id": 1, "liked": "1,2"}, "liked must be a list"),
        ({"id": 1, "user_id": [1]}, "user_id must be a string"),
        ({"id": 1, "attributes": ["female"]}, "attributes must be an object"),
        ({"id": 1, "text": 42}, "text must be a string"),
        ({"id": 1, "userid": 3}, "unknown field"),
        ({"id": 1, "exploration": 1.5}, "exploration must be a number from 0 to 1"),
        ({"id": 1, "exploration": "high"}, "exploration must be a number from 0 to 1"),
        ({"id": 1, "exploration": True}, "exploration must be a number from 0 to 1"),
    ],
)
def test_bad_requests(raw: object, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        parse_request(raw)
