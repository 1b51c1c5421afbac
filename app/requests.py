"""The recommendation contract's requests: decoded and checked one by one, so a bad request
gets its own error answer and the others are still served.

A request is a JSON object: ``{"id": ..., "user_id": ...}`` for a known user, or
``{"id": ..., "liked": [item ids], "attributes": {name: value}, "text": "..."}`` for a new
user (any subset, also added to a known user), optionally with ``"k"``, ``"candidates"``
(rank only these item ids), ``"exclude"`` (never return these), ``"explain"`` (a JSON
boolean) and ``"exploration"`` (0..1: how far items without interactions are let into the
list; default the model's own).

Limits, so that no request can make the service fail or stall: ids (the request's, the
user's, item ids, attribute names and values) are at most ``MAX_ID_LENGTH`` characters;
a request nests at most ``MAX_DEPTH`` levels (it needs two); ``text`` is at most
``MAX_TEXT`` characters; numbers are finite (no ``NaN`` / ``Infinity``); every string is
valid Unicode (no lone surrogates such as ``"\\udcff"``, which no UTF-8 output can hold).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from kgrec.kg.errors import KgrecError

FIELDS = {"id", "user_id", "liked", "attributes", "text", "k", "candidates", "exclude", "explain", "exploration"}
MAX_K = 1000
MAX_TEXT = 10_000
MAX_ID_LENGTH = 256
MAX_DEPTH = 8
SHOWN = 60
"""Characters of a rejected value quoted back in an error message."""


class RequestError(KgrecError):
    """A request the caller got wrong: the message goes into the request's ``error`` field
    (the CLI prints it as one sentence); ``request_id`` is the request's own id when it
    could be read (it is echoed in the answer), else None."""

    def __init__(self, message: str, request_id: object = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    id: object = None
    user_id: str | None = None
    liked: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    k: int = 20
    candidates: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = field(default_factory=tuple)
    explain: bool = False
    exploration: float | None = None

    @property
    def is_empty(self) -> bool:
        return self.user_id is None and not self.liked and not self.attributes and not self.text


def decode_line(line: str, number: int) -> object:
    """One JSONL line as a JSON value, or RequestError naming the line and what is wrong."""
    try:
        return json.loads(line, parse_constant=_no_constant)
    except RequestError as error:
        raise RequestError(f"line {number}: {error}") from None
    except json.JSONDecodeError as error:
        raise RequestError(f"line {number} is not valid JSON ({error.msg})") from None
    except RecursionError:
        raise RequestError(f"line {number} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # an integer of more than 4,300 digits (sys.get_int_max_str_digits)
        raise RequestError(f"line {number} holds a number too long to read") from None


def _no_constant(name: str) -> object:
    raise RequestError(f"{name} is not a number JSON allows")


def parse_request(raw: object, default_k: int = 20, explain: bool = False) -> Request:
    """A checked request, or RequestError saying what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise RequestError("a request must be a JSON object")
    request_id = _request_id(raw.get("id"))
    try:
        _check_values(raw)
        return _parse(raw, request_id, default_k, explain)
    except RequestError as error:
        raise RequestError(str(error), request_id) from None


def _parse(raw: Mapping[str, object], request_id: object, default_k: int, explain: bool) -> Request:
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(_shown(u) for u in unknown)} (known: {', '.join(sorted(FIELDS))})")
    k = raw.get("k", default_k)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise RequestError(f"k must be a positive integer up to {MAX_K}, got {_shown(k)}")
    user_id = raw.get("user_id")
    if user_id is not None and not isinstance(user_id, (str, int)) or isinstance(user_id, bool):
        raise RequestError(f"user_id must be a string or an integer, got {_shown(user_id)}")
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise RequestError("text must be a string")
    if text is not None and len(text) > MAX_TEXT:
        raise RequestError(f"text is longer than {MAX_TEXT:,} characters")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in attributes.values()):
        raise RequestError('attributes must be an object of names to values, e.g. {"gender": "female"}')
    candidates = raw.get("candidates")
    wants_explain = raw.get("explain", explain)
    if not isinstance(wants_explain, bool):
        raise RequestError(f"explain must be true or false (a JSON boolean), got {_shown(wants_explain)}")
    exploration = raw.get("exploration")
    if exploration is not None and (isinstance(exploration, bool) or not isinstance(exploration, (int, float))
                                    or not 0 <= exploration <= 1):
        raise RequestError(f"exploration must be a number from 0 to 1, got {_shown(exploration)}")
    return Request(
        id=request_id,
        user_id=None if user_id is None else _id(user_id, "user_id"),
        liked=_ids(raw.get("liked"), "liked"),
        attributes=tuple((_id(name, "an attribute name"), _id(_value(value), f"the value of attribute {_shown(name)}"))
                         for name, value in attributes.items() if str(value).strip()),
        text=text.strip() or None if text is not None else None,
        k=k,
        candidates=None if candidates is None else _ids(candidates, "candidates"),
        exclude=_ids(raw.get("exclude"), "exclude"),
        explain=wants_explain,
        exploration=None if exploration is None else float(exploration),
    )


def _check_values(raw: Mapping[str, object]) -> None:
    """Every value of a request, however deep, is bounded, finite and encodable, checked
    without recursion; the error names the top-level field it is in."""
    stack: list[tuple[object, int, str]] = [(raw, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise RequestError(f"{where or 'the request'} nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if not isinstance(key, str):
                    raise RequestError(f"{where or 'the request'} has a key that is not a string")
                _encodable(key, f"a field name in {where}" if where else "a field name")
                stack.append((inner, depth + 1, where or key))
        elif isinstance(value, (list, tuple)):
            stack.extend((inner, depth + 1, where) for inner in value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise RequestError(f"{where} holds {value}, which is not a number JSON allows")
        elif isinstance(value, str):
            _encodable(value, where)


def _encodable(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RequestError(f"{where} holds {error.object[error.start]!r} at position {error.start}, which is not a "
                           "Unicode character (a lone surrogate); send text as valid UTF-8") from None


def _request_id(value: object) -> object:
    """The request's ``id``, echoed in its answer: a string, a number or null."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
        raise RequestError(f"id must be a string, a number or null, got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(f"id must be a finite number, got {value}")
    if value is not None and len(str(value)) > MAX_ID_LENGTH:
        raise RequestError(f"id is longer than {MAX_ID_LENGTH} characters")
    if isinstance(value, str):
        _encodable(value, "id")
    return value


def _id(value: object, what: str) -> str:
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise RequestError(f"{what} is longer than {MAX_ID_LENGTH} characters: {_shown(text)}")
    return text


def _ids(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise RequestError(f"{name} must be a list of item ids, got {_shown(value)}")
    return tuple(dict.fromkeys(_id(v, f"an id in {name}") for v in value))


def _value(value: str | int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()


def _shown(value: object) -> str:
    """``repr(value)``, cut to ``SHOWN`` characters, for an error message."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"
