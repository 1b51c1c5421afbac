"""One item as a one-item catalog: what the app's add-item form (and any other door that
adds a single item by hand) turns into a :class:`~kgrec.kg.catalog.Catalog` for
:func:`kgrec.kg.ingest.check` and :func:`kgrec.kg.ingest.load`.

Properties are ``name = value`` lines; links are ``(relation, entity id)`` pairs, or
``RELATION = entity`` lines resolved by :func:`resolve_link` (the entity an id, or a name
looked up by the caller's ``find``). Everything a person can get wrong is a
:class:`~kgrec.kg.errors.KgrecError` with one sentence.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from kgrec.kg.catalog import Catalog, empty_frame
from kgrec.kg.errors import KgrecError
from kgrec.kg.identifiers import ENTITY, ITEM, relation_type
from kgrec.kg.limits import MAX_FIELD, MAX_TITLE
from kgrec.kg.store.base import GraphStore

MAX_DESCRIPTION = MAX_FIELD
"""Characters: the cap of any field, as for uploads and the CLI (kg/limits.py)."""
MAX_PROPERTIES = 50
MAX_LINKS = 50
RESERVED = ("item_id", "title", "description")
_PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

FindEntities = Callable[[str], list[str]]
"""The ids of the entities a name (case-insensitive, exact) denotes."""


def parse_properties(text: str | None) -> dict[str, str]:
    """``name = value`` lines (blank lines skipped) as a dict."""
    found: dict[str, str] = {}
    for line in text_lines(text):
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _PROPERTY_NAME.fullmatch(key):
            raise KgrecError(f"property {line!r}: write one 'name = value' per line, the name made of letters, digits and _.")
        if key in found or key in RESERVED:
            raise KgrecError(f"property {key!r} is given twice or is reserved.")
        if len(value) > MAX_FIELD:
            raise KgrecError(f"property {key!r} has {len(value):,} characters; at most {MAX_FIELD:,} are allowed.")
        found[key] = value
    return found


def parse_choice(value: str) -> tuple[str, str]:
    """A picked link, ``RELATION|entity id``, as (relation, entity id)."""
    relation, sep, entity = str(value).partition("|")
    canonical = relation_type(relation)
    if not sep or canonical is None or not entity:
        raise KgrecError(f"unknown link {value!r}: pick links from the list.")
    return canonical, entity


def resolve_link(line: str, store: GraphStore, find: FindEntities) -> tuple[str, str]:
    """``RELATION = entity`` where the entity is an id or a name ``find`` knows, as
    (relation, entity id)."""
    relation, sep, target = line.partition("=")
    relation, target = relation.strip(), target.strip()
    if not sep or not relation or not target:
        raise KgrecError(f"link {line!r}: write one 'RELATION = entity' per line, e.g. 'IN_GENRE = Sci-Fi'.")
    canonical = relation_type(relation)
    if canonical is None:
        raise KgrecError(f"link {line!r}: {relation!r} is not a valid relation name (letters, digits, _).")
    if store.existing_ids(ENTITY, [target]):
        return canonical, target
    found = find(target)
    if len(found) == 1:
        return canonical, found[0]
    if len(found) > 1:
        raise KgrecError(f"link {line!r}: {len(found)} entities are named {target!r} "
                         f"({', '.join(found[:5])}): give the id instead.")
    raise KgrecError(f"link {line!r}: no entity has the id or name {target!r}.")


def one_item_catalog(
    store: GraphStore,
    title: str,
    description: str = "",
    item_id: str = "",
    properties: Mapping[str, str] | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> Catalog:
    """A catalog of one item with its links (``(relation, entity id)``, each entity in the
    store). With no ``item_id`` one is made up (``new-<8 hex>``)."""
    title, description, item_id = (title or "").strip(), (description or "").strip(), (item_id or "").strip()
    properties = dict(properties or {})
    if not title:
        raise KgrecError("the title is empty: give the item a title.")
    if len(title) > MAX_TITLE:
        raise KgrecError(f"the title has {len(title):,} characters; at most {MAX_TITLE:,} are allowed.")
    if len(description) > MAX_DESCRIPTION:
        raise KgrecError(f"the description has {len(description):,} characters; at most {MAX_DESCRIPTION:,} "
                         "are allowed (the text model reads only the first few hundred).")
    if len(properties) > MAX_PROPERTIES or len(links) > MAX_LINKS:
        raise KgrecError(f"at most {MAX_PROPERTIES} properties and {MAX_LINKS} links per item.")
    if item_id and store.existing_ids(ITEM, [item_id]):
        raise KgrecError(f"an item with id {item_id!r} already exists: leave the id empty for a new one.")
    unique = list(dict.fromkeys(links))
    present = store.existing_ids(ENTITY, [entity for _, entity in unique])
    missing = [entity for _, entity in unique if entity not in present]
    if missing:
        raise KgrecError(f"no entity has the id {missing[0]!r}: pick links from the list.")
    item_id = item_id or f"new-{uuid.uuid4().hex[:8]}"
    row = {"item_id": item_id, "title": title, "description": description, **properties}
    triples = (pd.DataFrame([(item_id, r, e) for r, e in unique], columns=["head", "relation", "tail"], dtype=object)
               if unique else empty_frame(("head", "relation", "tail")))
    return Catalog(items=pd.DataFrame([row], dtype=object), triples=triples, name=f"item-{item_id}")


def same_item(items: pd.DataFrame, title: str, description: str) -> str | None:
    """The id of an item of ``items`` (a store export's item nodes: ``id``, ``title``,
    ``description``) with this title and description (case and surrounding spaces aside),
    or None: adding it again would make a second, identical item."""
    if items is None or items.empty:
        return None
    titles = items["title"].fillna("").astype(str).str.strip().str.casefold()
    descriptions = (items["description"] if "description" in items.columns else pd.Series("", index=items.index))
    descriptions = descriptions.fillna("").astype(str).str.strip().str.casefold()
    same = items["id"][(titles == title.strip().casefold()) & (descriptions == description.strip().casefold())]
    return str(same.iloc[0]) if len(same) else None


def text_lines(text: str | None) -> list[str]:
    """The non-empty lines of a form field, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


__all__ = ["MAX_DESCRIPTION", "one_item_catalog", "parse_choice", "parse_properties",
           "resolve_link", "same_item", "text_lines"]
