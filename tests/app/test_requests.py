"""Parsing the recommendation contract's requests: each bad request says what is wrong."""
from __future__ import annotations

import pytest

import math

from kgrec.app.requests import MAX_DEPTH, MAX_ID_LENGTH, Request, RequestError, decode_line, parse_request


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
        ({"id": 1, "liked": "50"}, "liked must be a list of item ids, got '50'"),
        ({"id": 1, "exclude": "50"}, "exclude must be a list"),
        ({"id": 1, "explain": "no"}, "explain must be true or false"),
        ({"id": 1, "explain": 0}, "explain must be true or false"),
        ({"id": math.nan}, "id must be a finite number"),
        ({"id": math.inf}, "id must be a finite number"),
        ({"id": {"a": 1}}, "id must be a string, a number or null"),
        ({"id": "x" * (MAX_ID_LENGTH + 1)}, "id is longer than 256 characters"),
        ({"id": 1, "k": math.inf}, "k holds inf, which is not a number JSON allows"),
        ({"id": 1, "user_id": "u" * (MAX_ID_LENGTH + 1)}, "user_id is longer than 256"),
        ({"id": 1, "liked": ["i" * (MAX_ID_LENGTH + 1)]}, "an id in liked is longer than 256"),
        ({"id": 1, "attributes": {"gender": "f" * (MAX_ID_LENGTH + 1)}}, "the value of attribute 'gender' is longer"),
        ({"id": 1, "text": "caf\udcff"}, r"text holds '\\udcff' at position 3, which is not a Unicode character"),
        ({"id": "\udcff"}, "id holds"),
        ({"id": 1, "liked": ["50", "\ud800"]}, "liked holds"),
        ({"id": 1, "attributes": {"\udcff": "x"}}, "a field name in attributes holds"),
        ({"id": 1, "liked": [[[[[[[[[["50"]]]]]]]]]]}, f"liked nests deeper than {MAX_DEPTH} levels"),
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


def test_a_request_error_is_a_user_error() -> None:
    from kgrec.kg.errors import KgrecError

    with pytest.raises(KgrecError, match="must be a JSON object"):
        parse_request([1, 2])


def test_a_bad_request_keeps_its_id_for_the_answer() -> None:
    with pytest.raises(RequestError) as caught:
        parse_request({"id": "r7", "explain": "no"})
    assert caught.value.request_id == "r7"
    with pytest.raises(RequestError) as caught:
        parse_request({"id": math.nan})
    assert caught.value.request_id is None


def test_explain_is_a_json_boolean() -> None:
    assert parse_request({"id": 1, "explain": False}).explain is False
    assert parse_request({"id": 1, "explain": True}).explain is True
    assert parse_request({"id": 1}, explain=True).explain is True


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": ' + "1" * 4301 + "}", "line 3 holds a number too long to read"),
        ("[" * 100_000 + "]" * 100_000, f"line 3 nests deeper than {MAX_DEPTH} levels"),
        ('{"id": NaN}', "line 3: NaN is not a number JSON allows"),
        ('{"id": -Infinity}', "line 3: -Infinity is not a number JSON allows"),
        ("{not json", "line 3 is not valid JSON"),
    ],
    ids=["4301-digits", "deep", "nan", "infinity", "broken"],
)
def test_lines_that_cannot_be_decoded(line: str, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        decode_line(line, 3)


def test_a_long_but_readable_line() -> None:
    assert decode_line('{"id": ' + "1" * 4300 + "}", 1) == {"id": int("1" * 4300)}
