"""The recommendation contract's requests: parsed and checked one by one, so a bad request
gets its own error answer and the others are still served.

A request is a JSON object: ``{"id": ..., "user_id": ...}`` for a known user, or
``{"id": ..., "liked": [item ids], "attributes": {name: value}, "text": "..."}`` for a new
user (any subset, also added to a known user), optionally with ``"k"``, ``"candidates"``
(rank only these item ids), ``"exclude"`` (never return these) and ``"exploration"`` (0..1:
how far items without interactions are let into the list; default the model's own).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FIELDS = {"id", "user_id", "liked", "attributes", "text", "k", "candidates", "exclude", "explain", "exploration"}
MAX_K = 1000
MAX_TEXT = 10_000


class RequestError(ValueError):
    """The message goes into the request's ``error`` field."""


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


def parse_request(raw: object, default_k: int = 20, explain: bool = False) -> Request:
    """A checked request, or RequestError saying what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise RequestError("a request must be a JSON object")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(sorted(FIELDS))})")
    k = raw.get("k", default_k)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise RequestError(f"k must be a positive integer up to {MAX_K}, got {k!r}")
    user_id = raw.get("user_id")
    if user_id is not None and not isinstance(user_id, (str, int)) or isinstance(user_id, bool):
        raise RequestError(f"user_id must be a string or an integer, got {user_id!r}")
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise RequestError("text must be a string")
    if text is not None and len(text) > MAX_TEXT:
        raise RequestError(f"text is longer than {MAX_TEXT:,} characters")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in attributes.values()):
        raise RequestError('attributes must be an object of names to values, e.g. {"gender": "female"}')
    candidates = raw.get("candidates")
    exploration = raw.get("exploration")
    if exploration is not None and (isinstance(exploration, bool) or not isinstance(exploration, (int, float))
                                    or not 0 <= exploration <= 1):
        raise RequestError(f"exploration must be a number from 0 to 1, got {exploration!r}")
    return Request(
        id=raw.get("id"),
        user_id=None if user_id is None else str(user_id),
        liked=_ids(raw.get("liked"), "liked"),
        attributes=tuple((str(name), _value(value)) for name, value in attributes.items() if str(value).strip()),
        text=text.strip() or None if text is not None else None,
        k=k,
        candidates=None if candidates is None else _ids(candidates, "candidates"),
        exclude=_ids(raw.get("exclude"), "exclude"),
        explain=bool(raw.get("explain", explain)),
        exploration=None if exploration is None else float(exploration),
    )


def _ids(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise RequestError(f"{name} must be a list of item ids")
    return tuple(dict.fromkeys(str(v) for v in value))


def _value(value: str | int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
