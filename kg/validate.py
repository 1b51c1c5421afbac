"""Check a catalog before anything is written: every row either passes or is rejected with
its file, line, field and reason. Checks are vectorised with pandas, so ml-1m's million
interactions validate in seconds.

What is checked, table by table:
- items: item_id present and unique, title not empty and at most MAX_TITLE characters
  (every field is at most MAX_FIELD: the reader rejects longer ones); other columns become
  properties (a column named ``id`` is refused: stores key nodes by it).
- entities: entity_id present, unique and not an item id; empty name falls back to the id.
- users: user_id present and unique; each non-empty attribute becomes an attribute entity
  (no ``id`` column either).
- interactions: ids present, the item known (in this catalog or already in the store),
  rating a finite number in the rating range, timestamp unix seconds or ISO 8601;
  a repeated (user, item) pair keeps its latest row. A streamed table is checked chunk by
  chunk (:func:`validate_interactions`), and repeats across chunks afterwards on compact
  arrays (:func:`reject_repeats`).
- triples: head, relation, tail present; the relation a safe identifier and not reserved;
  head and tail items or entities (an id that is not an item is an entity, unless an
  entities table is given: then it must be listed there or already stored).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import CatalogError
from kgrec.kg.identifiers import ENTITY, ITEM, RESERVED_TYPES, relation_type
from kgrec.kg.limits import MAX_TITLE
from kgrec.kg.reader import LINE
from kgrec.kg.report import IngestReport, Rejection

ExistingIds = Callable[[str, Iterable[str]], set[str]]
"""(label, ids) -> the ids that already exist in the store with that label."""

ATTRIBUTE_PREFIX = "attr"
REPEATED_PAIR = "repeats an earlier (user_id, item_id) pair; only the latest is kept"
RESERVED_COLUMN = "id"
"""Stores key nodes by ``id``: items.csv and users.csv may not have a column of that name."""


def attribute_entity_id(attribute: str, value: str) -> str:
    """The id of the entity standing for a user attribute value, e.g. ``attr:gender:female``."""
    return f"{ATTRIBUTE_PREFIX}:{attribute}:{value}"


@dataclass
class Rule:
    """A vectorised check: rows where ``bad`` is True are rejected."""

    bad: pd.Series
    field: str | None
    reason: str
    message: Callable[[pd.Series], str] | str


class TableCheck:
    """Applies rules to one table, moving failing rows into the report."""

    def __init__(self, frame: pd.DataFrame, file: str, report: IngestReport) -> None:
        if LINE not in frame.columns:
            frame = frame.assign(**{LINE: np.arange(2, len(frame) + 2)})
        self.frame = frame.reset_index(drop=True)
        self.file, self.report = file, report
        self._text: dict[str, pd.Series] = {}
        """Columns already made text, kept in step with the frame: each rule reads its
        columns again, and on a batch of a few events the conversions were most of the cost."""

    def text(self, column: str) -> pd.Series:
        """A column as stripped strings ('' when absent)."""
        if column not in self._text:
            if column in self.frame.columns:
                values = self.frame[column]
                self._text[column] = values.where(values.notna(), "").astype(str).str.strip()
            else:
                self._text[column] = pd.Series("", index=self.frame.index, dtype=object)
        return self._text[column]

    def reject(self, bad: pd.Series, field: str | None, reason: str, message: Callable[[pd.Series], str] | str) -> None:
        bad = bad.fillna(False).astype(bool)
        if not bad.any():
            return
        rows = self.frame[bad]
        if len(rows) > self.report.room:  # beyond what the report keeps: counted, not described
            self.report.count_left_out(self.file, reason, len(rows) - self.report.room)
            rows = rows.iloc[: self.report.room]
        for _, row in rows.iterrows():
            text = message(row) if callable(message) else message
            raw = ",".join(str(row[c]) for c in self.frame.columns if c != LINE)
            self.report.reject(Rejection(self.file, int(row[LINE]), field, reason, text, raw))
        self.frame = self.frame[~bad].reset_index(drop=True)
        self._text = {column: values[~bad].reset_index(drop=True) for column, values in self._text.items()}

    def require(self, *columns: str) -> None:
        for column in columns:
            self.reject(self.text(column) == "", column, "missing_value", f"{column} is empty")

    def unique(self, column: str) -> None:
        ids = self.text(column)
        first_line = self.frame[LINE].groupby(ids).transform("first")
        self.reject(ids.duplicated(keep="first"), column, "duplicate_id",
                    lambda row: f"{column} {str(row[column]).strip()!r} already appears on line {first_line[row.name]}")


def validate(
    catalog: Catalog,
    existing: ExistingIds,
    rating_range: tuple[float, float] = (0.0, 10.0),
    files: dict[str, str] | None = None,
    report: IngestReport | None = None,
) -> tuple[Catalog, IngestReport]:
    """Return the rows that pass (ids stripped, ratings and timestamps numeric, relations
    canonical, triples labelled with ``head_label``/``tail_label``) and the report."""
    names = {t: f"{t}.csv" for t in ("items", "users", "interactions", "triples", "entities")} | (files or {})
    for table, frame in (("items", catalog.items), ("users", catalog.users)):
        if RESERVED_COLUMN in frame.columns:
            raise CatalogError(f"{names[table]} has a column named {RESERVED_COLUMN!r}, which kgrec keeps for node ids "
                               f"({table[:-1]}_id is the id): rename that column, e.g. to source_id")
    report = report or IngestReport(catalog.name)
    items = _items(TableCheck(catalog.items, names["items"], report))
    item_ids = set(items["item_id"])
    entities = _entities(TableCheck(catalog.entities, names["entities"], report), item_ids)
    users = _users(TableCheck(catalog.users, names["users"], report))
    interactions = _interactions(TableCheck(catalog.interactions, names["interactions"], report), item_ids, existing, rating_range)
    listed_entities = set(entities["entity_id"]) if len(catalog.entities) else None
    triples = _triples(TableCheck(catalog.triples, names["triples"], report), item_ids, listed_entities, existing)
    clean = Catalog(items=items, interactions=interactions, users=users, triples=triples, entities=entities, name=catalog.name)
    report.accepted = {names[t]: n for t, n in clean.summary().items()}
    report.rejections.sort(key=lambda r: (r.file, r.line))
    return clean, report


def _items(check: TableCheck) -> pd.DataFrame:
    check.require("item_id")
    check.unique("item_id")
    check.reject(check.text("title") == "", "title", "empty_title", "title is empty")
    check.reject(check.text("title").str.len() > MAX_TITLE, "title", "title_too_long",
                 lambda row: f"title has {len(str(row['title']).strip()):,} characters; at most {MAX_TITLE:,} are allowed")
    frame = check.frame.drop(columns=[LINE])
    for column in ("item_id", "title", "description"):
        frame[column] = check.text(column)
    return frame


def _entities(check: TableCheck, item_ids: set[str]) -> pd.DataFrame:
    check.require("entity_id")
    check.unique("entity_id")
    ids = check.text("entity_id")
    check.reject(ids.isin(item_ids), "entity_id", "id_collision",
                 lambda row: f"entity_id {str(row['entity_id']).strip()!r} is also an item id")
    ids, names, types = check.text("entity_id"), check.text("name"), check.text("type")
    return pd.DataFrame({"entity_id": ids, "name": names.where(names != "", ids), "type": types.where(types != "", "entity")})


def _users(check: TableCheck) -> pd.DataFrame:
    check.require("user_id")
    check.unique("user_id")
    frame = check.frame.drop(columns=[LINE])
    for column in frame.columns:
        frame[column] = check.text(column)
    return frame


def validate_interactions(frame: pd.DataFrame, file: str, item_ids: set[str], existing: ExistingIds,
                          rating_range: tuple[float, float], report: IngestReport, group: str | None = None) -> pd.DataFrame:
    """An interactions table alone (one chunk of a streamed file, or a batch of events —
    without the cost of checking four empty tables): the rows that pass (with their
    ``_line``), the others in ``report``. A pair repeated within the frame keeps its latest
    row here (within each value of the ``group`` column when given, which is kept too:
    several requests' events checked at once); :func:`reject_repeats` does the same across chunks."""
    return _interactions(TableCheck(frame, file, report), item_ids, existing, rating_range, lines=True, group=group)


def reject_repeats(rows: pd.DataFrame, file: str, report: IngestReport,
                   shown: Callable[[pd.DataFrame], pd.DataFrame]) -> np.ndarray:
    """``(len(rows),)`` bool: the rows (``user``, ``item`` codes, ``timestamp``, ``_line``)
    whose (user, item) pair has a later row (by timestamp, absent first, then line); those
    are rejected into ``report``, each shown as ``shown`` makes it (with its ``_line``)."""
    users, items = rows["user"].to_numpy(), rows["item"].to_numpy()
    order = np.lexsort((rows[LINE].to_numpy(), np.nan_to_num(rows["timestamp"].to_numpy(), nan=-np.inf), items, users))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (users[order][1:] != users[order][:-1]) | (items[order][1:] != items[order][:-1])
    repeated = np.zeros(len(order), dtype=bool)
    repeated[order] = ~last
    if repeated.any():
        frame = shown(rows.loc[repeated]).reset_index(drop=True)
        TableCheck(frame, file, report).reject(pd.Series(True, index=frame.index), None, "duplicate_interaction",
                                               REPEATED_PAIR)
    return repeated


def _interactions(
    check: TableCheck, item_ids: set[str], existing: ExistingIds, rating_range: tuple[float, float], lines: bool = False,
    group: str | None = None,
) -> pd.DataFrame:
    check.require("user_id", "item_id")
    items = check.text("item_id")
    unknown = ~items.isin(item_ids)
    if unknown.any():
        stored = existing(ITEM, set(items[unknown]))
        unknown &= ~items.isin(stored)
    check.reject(unknown, "item_id", "unknown_item", lambda row: f"item_id {str(row['item_id']).strip()!r} is not an item of this catalog or the store")

    raw_rating = check.text("rating")
    rating = pd.to_numeric(raw_rating, errors="coerce")
    check.reject((raw_rating != "") & ~np.isfinite(rating.fillna(np.inf)), "rating", "invalid_rating",
                 lambda row: f"rating {str(row['rating']).strip()!r} is not a number")
    rating = pd.to_numeric(check.text("rating"), errors="coerce")
    low, high = rating_range
    check.reject((rating < low) | (rating > high), "rating", "rating_out_of_range",
                 lambda row: f"rating {str(row['rating']).strip()} is outside the accepted range {low:g}..{high:g}")

    raw_time = check.text("timestamp")
    seconds = _timestamps(raw_time)
    check.reject((raw_time != "") & seconds.isna(), "timestamp", "invalid_timestamp",
                 lambda row: f"timestamp {str(row['timestamp']).strip()!r} is neither unix seconds nor ISO 8601")
    frame = pd.DataFrame({
        "user_id": check.text("user_id"),
        "item_id": check.text("item_id"),
        "rating": pd.to_numeric(check.text("rating"), errors="coerce").astype(float),
        "timestamp": _timestamps(check.text("timestamp")),
        LINE: check.frame[LINE],
        **({group: check.frame[group]} if group else {}),
    })
    order = frame.sort_values(["timestamp", LINE], na_position="first", kind="stable")
    repeated = order.duplicated(["user_id", "item_id", *([group] if group else [])], keep="last").reindex(frame.index)
    check.reject(repeated, None, "duplicate_interaction", REPEATED_PAIR)
    frame = frame[~repeated].reset_index(drop=True)
    return frame if lines else frame.drop(columns=[LINE])


def _timestamps(raw: pd.Series) -> pd.Series:
    """Unix seconds as float; ISO 8601 strings converted; NaN where empty or unreadable."""
    seconds = pd.to_numeric(raw, errors="coerce").astype(float)
    seconds[~np.isfinite(seconds)] = np.nan
    text = (raw != "") & seconds.isna()
    if text.any():
        parsed = pd.to_datetime(raw[text], errors="coerce", utc=True, format="ISO8601")
        seconds[text] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds


def _triples(
    check: TableCheck, item_ids: set[str], listed_entities: set[str] | None, existing: ExistingIds
) -> pd.DataFrame:
    check.require("head", "relation", "tail")
    relations = check.text("relation")
    canonical = relations.map(relation_type)
    check.reject(canonical.isna(), "relation", "invalid_relation",
                 lambda row: f"relation {str(row['relation']).strip()!r} is not a safe name (letters, digits, _ . - and spaces only)")
    canonical = check.text("relation").map(relation_type)
    check.reject(canonical.isin(RESERVED_TYPES), "relation", "reserved_relation",
                 lambda row: f"relation {str(row['relation']).strip()!r} is reserved for kgrec's own relationships")
    heads, tails = check.text("head"), check.text("tail")
    outside = (set(heads) | set(tails)) - item_ids
    known_items = item_ids | existing(ITEM, outside)
    if listed_entities is not None:
        known = known_items | listed_entities | existing(ENTITY, outside - known_items - listed_entities)
        for end in ("head", "tail"):
            check.reject(~check.text(end).isin(known), end, "unknown_id",
                         lambda row, end=end: f"{end} {str(row[end]).strip()!r} is neither an item nor an entity")
    frame = pd.DataFrame({
        "head": check.text("head"),
        "relation": check.text("relation").map(relation_type),
        "tail": check.text("tail"),
    })
    duplicate = frame.duplicated(keep="first")
    check.reject(duplicate, None, "duplicate_triple", "repeats an earlier triple")
    frame = frame[~duplicate].reset_index(drop=True)
    frame["head_label"] = np.where(frame["head"].isin(known_items), ITEM, ENTITY)
    frame["tail_label"] = np.where(frame["tail"].isin(known_items), ITEM, ENTITY)
    return frame
