"""Events and new items as they arrive one by one (the HTTP API, ``kgrec events``), checked
with the catalog's own rules (``kgrec.kg.validate``: the same checks and messages as
``interactions.csv`` and ``items.csv``), each rejected alone with its reason.

An event is ``{"user_id", "item_id", "rating"?, "timestamp"?}``; an item is ``{"item_id"?,
"title", "description"?, "properties"?: {name: value}, "triples"?: [{"relation", "tail"} or
{"head", "relation"}]}`` (the item is the missing end). What JSON can get wrong and a CSV
cannot (a list where an id belongs, a boolean rating, an unknown field) is checked first,
with the same kind of answer.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.identifiers import ITEM
from kgrec.kg.reader import LINE
from kgrec.kg.report import IngestReport, Rejection
from kgrec.kg.validate import ExistingIds, validate, validate_interactions

EVENT_FIELDS = frozenset({"user_id", "item_id", "rating", "timestamp"})
ITEM_FIELDS = frozenset({"item_id", "title", "description", "properties", "triples"})
TRIPLE_FIELDS = frozenset({"head", "relation", "tail"})
RESERVED_PROPERTIES = frozenset({"id", "item_id", "title", "description", LINE})
REQUEST = "_request"
"""The column that tells the requests of :func:`check_event_requests` apart."""
MAX_ID = 512
MAX_TITLE = 500
MAX_DESCRIPTION = 20_000
MAX_PROPERTIES = 50
MAX_TRIPLES = 200
MAX_VALUE = 2_000
"""Characters in a property value, a relation name or a triple's other end."""


@dataclass(frozen=True)
class Rejected:
    """Why the event or item at ``index`` (0-based, in the order sent) was refused."""

    index: int
    field: str | None
    reason: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "reason": self.reason, "message": self.message}


class _Bad(ValueError):
    def __init__(self, field: str | None, reason: str, message: str) -> None:
        super().__init__(message)
        self.field, self.reason = field, reason


# --- events ----------------------------------------------------------------------------


def check_events(raw: Sequence[object], existing: ExistingIds, rating_range: tuple[float, float],
                 now: float) -> tuple[pd.DataFrame, list[Rejected]]:
    """The events that pass (``user_id``, ``item_id``, ``rating``, ``timestamp`` — the time
    of arrival when not given — and ``index``, their position in ``raw``), and the rest."""
    return check_event_requests([raw], existing, rating_range, now)[0]


def check_event_requests(requests: Sequence[Sequence[object]], existing: ExistingIds,
                         rating_range: tuple[float, float], now: float) -> list[tuple[pd.DataFrame, list[Rejected]]]:
    """:func:`check_events` of each request, in one validation: each request is answered as
    if alone (a pair sent in two requests is no repeat), and a validation of a few events
    costs about as much as one of many (the table's fixed cost is most of it)."""
    rejected: list[list[Rejected]] = [[] for _ in requests]
    rows: list[dict[str, object]] = []
    origin: list[tuple[int, int]] = []  # per row: (request, index in it)
    for request, raw in enumerate(requests):
        for index, event in enumerate(raw):
            try:
                rows.append({LINE: len(origin), REQUEST: request, **_event_row(event)})
                origin.append((request, index))
            except _Bad as bad:
                rejected[request].append(Rejected(index, bad.field, bad.reason, str(bad)))
    frame = pd.DataFrame(rows, columns=[LINE, REQUEST, *sorted(EVENT_FIELDS)])
    report = IngestReport("events")
    clean = validate_interactions(frame, "events", set(), existing, rating_range, report, group=REQUEST)
    for r in report.rejections:
        request, index = origin[r.line]
        rejected[request].append(Rejected(index, r.field, r.reason, r.message))
    clean = clean.assign(index=[origin[line][1] for line in clean[LINE]], timestamp=clean["timestamp"].fillna(now))
    return [(clean[clean[REQUEST] == request].drop(columns=[LINE, REQUEST]).reset_index(drop=True),
             sorted(refused, key=lambda r: r.index)) for request, refused in enumerate(rejected)]


def _event_row(event: object) -> dict[str, str]:
    if not isinstance(event, Mapping):
        raise _Bad(None, "not_an_object", "an event must be a JSON object")
    _known(event, EVENT_FIELDS, "an event")
    row = {"user_id": _id(event.get("user_id"), "user_id"), "item_id": _id(event.get("item_id"), "item_id")}
    for name in ("rating", "timestamp"):
        value = event.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
            raise _Bad(name, f"invalid_{name}", f"{name} must be a number" + (" or an ISO 8601 string" if name == "timestamp" else "")
                       + f", got {_json_type(value)}")
        row[name] = "" if value is None else _text(str(value), name, MAX_ID)
    return row


# --- items -----------------------------------------------------------------------------


def check_items(raw: Sequence[object], existing: ExistingIds) -> tuple[Catalog, list[str], list[Rejected]]:
    """The items that pass as a validated catalog (items and their triples), their ids in
    the order sent (an id is made up where none is given), and the rest. An item with a bad
    triple is refused whole; an id already in the store is refused (items are added here,
    not changed)."""
    rejected: list[Rejected] = []
    items: list[dict[str, object]] = []
    triples: list[dict[str, object]] = []
    owner: list[tuple[int, int]] = []  # per triple row: (item index, position in its item's list)
    for index, item in enumerate(raw):
        try:
            row, links = _item_row(item)
        except _Bad as bad:
            rejected.append(Rejected(index, bad.field, bad.reason, str(bad)))
            continue
        items.append({LINE: index, **row})
        for position, link in enumerate(links):
            triples.append({LINE: len(owner), **link})
            owner.append((index, position))
    stored = existing(ITEM, [str(row["item_id"]) for row in items])
    for row in items:
        if row["item_id"] in stored:
            rejected.append(Rejected(int(row[LINE]), "item_id", "duplicate_id",  # type: ignore[call-overload]
                                     f"item_id {row['item_id']!r} is already in the store (items are added here, not changed)"))
    items = [row for row in items if row["item_id"] not in stored]
    catalog = Catalog(items=pd.DataFrame(items, columns=[LINE, "item_id", "title", "description"] if not items else None),
                      triples=pd.DataFrame(triples, columns=[LINE, "head", "relation", "tail"]))
    clean, report = validate(catalog, existing, files={"items": "items", "triples": "triples"})
    for r in report.rejections:
        if r.file == "triples":
            index, position = owner[r.line]
            rejected.append(Rejected(index, f"triples[{position}].{r.field}" if r.field else f"triples[{position}]",
                                     r.reason, r.message))
        else:
            rejected.append(_rejected(r))
    refused = {r.index for r in rejected}
    ids = [str(row["item_id"]) for row in items if row[LINE] not in refused]
    clean.items = clean.items[clean.items["item_id"].isin(set(ids))].reset_index(drop=True)
    # Every triple validation dropped has a rejection (repeats too), so the clean ones are the
    # others, in order: each is kept only when its item is.
    dropped = {r.line for r in report.rejections if r.file == "triples"}
    owners = [owner[t[LINE]][0] for t in triples if t[LINE] not in dropped]  # type: ignore[index]
    keep = np.fromiter((o not in refused for o in owners), dtype=bool, count=len(owners))
    clean.triples = clean.triples[keep].reset_index(drop=True)  # a mask: an empty list would select no columns
    return clean, ids, sorted(rejected, key=lambda r: r.index)


def _item_row(item: object) -> tuple[dict[str, object], list[dict[str, str]]]:
    if not isinstance(item, Mapping):
        raise _Bad(None, "not_an_object", "an item must be a JSON object")
    _known(item, ITEM_FIELDS, "an item")
    item_id = _id(item.get("item_id"), "item_id") or f"new-{secrets.token_hex(4)}"
    title = item.get("title")
    if not isinstance(title, str):
        raise _Bad("title", "missing_value" if title is None else "invalid_type",
                   "title is empty" if title is None else f"title must be a string, got {_json_type(title)}")
    description = item.get("description")
    if description is not None and not isinstance(description, str):
        raise _Bad("description", "invalid_type", f"description must be a string, got {_json_type(description)}")
    row: dict[str, object] = {"item_id": item_id, "title": _text(title, "title", MAX_TITLE),
                              "description": _text(description or "", "description", MAX_DESCRIPTION)}
    properties = item.get("properties") or {}
    if not isinstance(properties, Mapping) or len(properties) > MAX_PROPERTIES:
        raise _Bad("properties", "invalid_type", f"properties must be an object of at most {MAX_PROPERTIES} names to values")
    for name, value in properties.items():
        field = f"properties.{name}"
        if not isinstance(name, str) or not name.strip() or name in RESERVED_PROPERTIES or len(name) > 64:
            raise _Bad(field, "invalid_property", f"property name {name!r} is empty, reserved or longer than 64 characters")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value in (float("inf"), float("-inf")) \
                or value != value:
            raise _Bad(field, "invalid_type", f"{field} must be a string or a finite number, got {_json_type(value)}")
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        row[_text(name, field, 64)] = _text(text, field, MAX_VALUE)  # as a catalog file would have it
    links = item.get("triples") or []
    if not isinstance(links, list) or len(links) > MAX_TRIPLES:
        raise _Bad("triples", "invalid_type", f"triples must be a list of at most {MAX_TRIPLES} objects")
    triples = []
    for position, link in enumerate(links):
        field = f"triples[{position}]"
        if not isinstance(link, Mapping):
            raise _Bad(field, "not_an_object", f'{field} must be an object: {{"relation": ..., "tail": ...}}')
        _known(link, TRIPLE_FIELDS, field)
        ends = {end: _id(link.get(end), f"{field}.{end}") for end in ("head", "tail")}
        if bool(ends["head"]) == bool(ends["tail"]):
            raise _Bad(field, "invalid_triple", f'{field} needs exactly one of "head" or "tail": the item is the other end')
        relation = link.get("relation")
        if not isinstance(relation, str):
            raise _Bad(f"{field}.relation", "invalid_type", f"{field}.relation must be a string, got {_json_type(relation)}")
        triples.append({"head": ends["head"] or item_id, "relation": _text(relation, f"{field}.relation", MAX_VALUE),
                        "tail": ends["tail"] or item_id})
    return row, triples


# --- shared ------------------------------------------------------------------------------


def _known(value: Mapping[object, object], fields: frozenset[str], what: str) -> None:
    unknown = sorted(str(k) for k in value if k not in fields)
    if unknown:
        raise _Bad(unknown[0], "unknown_field", f"{what} has unknown field(s) {', '.join(unknown)} "
                                                f"(known: {', '.join(sorted(fields))})")


def _id(value: object, field: str) -> str:
    """An id as text ("" when absent: the catalog rules then say it is empty)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad(field, "invalid_type", f"{field} must be a string or an integer, got {_json_type(value)}")
    return _text(str(value), field, MAX_ID).strip()


def _text(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise _Bad(field, "too_long", f"{field} is longer than {limit:,} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(field, "invalid_text", f"{field} is not valid Unicode text (a lone surrogate)") from None
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _rejected(rejection: Rejection) -> Rejected:
    return Rejected(rejection.line, rejection.field, rejection.reason, rejection.message)


__all__ = ["Rejected", "check_event_requests", "check_events", "check_items"]
