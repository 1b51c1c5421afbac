"""Sentences for the text encoder: what the graph knows about each item and entity, in words.

An item's sentence is its title, its description, then the facts its Item↔Entity
relationships hold, grouped by relation and phrased for reading ("Directed by Michael
Mann."), then its short properties:

    "Heat. Crime film. Genres: Action, Crime, Thriller. Released in 1995. Directed by
    Michael Mann. Starring Al Pacino, Robert De Niro."

Facts whose entity has only a fallback name (its id, or "<type> <id>" such as "director
m.0bxtg") are left out: an opaque id tells the encoder nothing and only adds noise.
Entities, user attribute values and a user's free text get short sentences that the
same encoder embeds into the same space.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from kgrec.kg.graph import GraphExport
from kgrec.kg.identifiers import ENTITY, ITEM

MAX_FACTS_PER_RELATION = 5
"""Entities named per relation in an item's sentence (the most connected ones first)."""
MAX_SENTENCE_CHARS = 600
"""About 128 word pieces, the sequence length all-MiniLM-L6-v2 was trained on."""
MAX_DESCRIPTION_CHARS = 300
"""So that a long description leaves room for the facts."""
MAX_PROPERTY_CHARS = 40
"""Longer property values (URLs, long lists) are left out."""

_UNTYPED = "entity"
"""The type stores give an entity that has none."""

# Nicer phrasings for common relationship types, in the order their facts are written:
# (phrase, types from the item to the entity, types from the entity to the item).
# A phrase ending in ":" introduces a list; the others read on into the names.
_PHRASES: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    ("Genres:", frozenset({"GENRE", "HAS_GENRE", "IN_GENRE"}), frozenset({"GENRE_OF"})),
    ("Released in", frozenset({"RELEASED_IN", "RELEASE_YEAR", "YEAR"}), frozenset()),
    ("Directed by", frozenset({"DIRECTED_BY", "DIRECTOR"}), frozenset({"DIRECTED"})),
    ("Starring", frozenset({"STARRING", "ACTOR", "CAST"}), frozenset({"ACTED_IN", "STARRED_IN"})),
    ("Written by", frozenset({"WRITTEN_BY", "WRITER", "AUTHOR", "AUTHORED_BY"}), frozenset({"WROTE"})),
    ("Produced by", frozenset({"PRODUCED_BY", "PRODUCER"}), frozenset({"PRODUCED"})),
    ("Cinematography by", frozenset({"CINEMATOGRAPHY_BY"}), frozenset({"SHOT"})),
    ("Production companies:", frozenset({"PRODUCTION_COMPANY", "STUDIO"}), frozenset({"COMPANY_PRODUCED"})),
    ("About", frozenset({"ABOUT", "ABOUT_SUBJECT", "SUBJECT"}), frozenset({"SUBJECT_OF"})),
    ("Language:", frozenset({"LANGUAGE", "IN_LANGUAGE"}), frozenset()),
    ("Country:", frozenset({"COUNTRY", "FROM_COUNTRY"}), frozenset()),
    ("Rated", frozenset({"HAS_CONTENT_RATING", "CONTENT_RATING"}), frozenset({"CONTENT_RATING_OF"})),
    ("Won", frozenset({"WON_AWARD", "AWARD_WON"}), frozenset()),
    ("Brand:", frozenset({"BRAND", "HAS_BRAND"}), frozenset()),
    ("Category:", frozenset({"CATEGORY", "IN_CATEGORY", "HAS_CATEGORY"}), frozenset()),
    ("Tags:", frozenset({"TAG", "HAS_TAG", "TAGGED"}), frozenset()),
)
_PROPERTY_PHRASES = {"year": "Released in", "release_year": "Released in"}


def humanise(name: str) -> str:
    """``DIRECTED_BY`` → ``directed by``; ``release_year`` → ``release year``."""
    return name.replace("_", " ").strip().lower()


def relation_phrase(rel_type: str, forward: bool) -> tuple[str, int]:
    """How an item's facts of one relationship type are introduced, and where they go.

    ``forward`` is True for ``(Item)-[rel_type]->(Entity)``. Returns a template with
    ``{}`` where the entity names go (``"Directed by {}"``) and a sort rank: the table's
    phrasings first, in its order, then all others. Without a table entry, a forward type
    reads as item–relation–names (``"Nominated for {}"``, ``"Sequel: {}"`` for a single
    noun); an inverse ``X_OF`` as the item's X (``"Remake: {}"``); any other inverse
    literally, names first (``"{} influenced it"``), so that no direction is ever flipped.
    """
    for rank, (phrase, forward_types, inverse_types) in enumerate(_PHRASES):
        if rel_type in (forward_types if forward else inverse_types):
            return f"{phrase} {{}}", rank
    words = humanise(rel_type)
    generic_rank = len(_PHRASES)
    if forward:
        return (f"{words.capitalize()}: {{}}" if " " not in words else f"{words.capitalize()} {{}}"), generic_rank
    if words.endswith(" of"):
        return f"{words[:-3].capitalize()}: {{}}", generic_rank
    return f"{{}} {words} it", generic_rank


def is_fallback_name(name: object, entity_id: str) -> bool:
    """True when ``name`` only restates an id that looks like a code (no space, letters and
    digits mixed: ``m.0bxtg``, ``Q42``): missing, the id itself, or ``"<type> <id>"``.
    A readable id that doubles as the name (``Paris``, ``1995``) or ends it (``Michael
    Mann`` for ``mann``) counts as a real name."""
    if not isinstance(name, str) or not name.strip():
        return True
    text, code = name.strip(), entity_id.strip()
    if text != code and not text.casefold().endswith(" " + code.casefold()):
        return False
    return not any(c.isspace() for c in code) and any(c.isdigit() for c in code) and any(c.isalpha() for c in code)


def item_sentences(export: GraphExport) -> list[str]:
    """One sentence per row of ``export.nodes["Item"]``, in row order."""
    items = export.nodes.get(ITEM)
    if items is None or items.empty:
        return []
    titles = _texts(items, "title")
    descriptions = _texts(items, "description")
    facts = _fact_fragments(export)
    properties = _property_fragments(items)
    sentences = []
    for i, title in enumerate(titles):
        text = " ".join(part for part in (
            _as_sentence(title),
            _as_sentence(_truncate(descriptions[i], MAX_DESCRIPTION_CHARS)),
            facts[i],
        ) if part)
        extra = [fragment for value, fragment in properties[i] if not _states(text, value)]
        sentences.append(_truncate(" ".join([text, *extra]), MAX_SENTENCE_CHARS))
    return sentences


def entity_sentences(export: GraphExport) -> list[str]:
    """One sentence per row of ``export.nodes["Entity"]``, in row order: ``"Michael Mann
    (director)"``. An entity with only a fallback name is described by its type alone
    (``"director"``): its ID embedding and its edges say the rest. Titles of its items
    would add little the graph does not carry, and would make every such entity a
    distinct text to encode (33,000 on ml-100k, minutes on a CPU) instead of a handful."""
    entities = export.nodes.get(ENTITY)
    if entities is None or entities.empty:
        return []
    ids = entities["id"].astype(str).tolist()
    names = _raw(entities, "name")
    types = _texts(entities, "type")
    return [
        humanise(entity_type) or _UNTYPED if is_fallback_name(name, entity_id) else attribute_sentence(entity_type, name)
        for entity_id, name, entity_type in zip(ids, names, types)
    ]


def attribute_sentence(name: str, value: str) -> str:
    """A user attribute (``age``, ``25-34``) phrased like its attribute entity's sentence
    (attribute entities carry the value as ``name`` and the attribute as ``type``), so a
    new user's attributes embed where the known ones do: ``"25-34 (age)"``."""
    value = _normalise(str(value))
    kind = humanise(name)
    return value if kind in ("", _UNTYPED) else f"{value} ({kind})"


def free_text(text: str) -> str:
    """A user's description of what they like, ready for the encoder: Unicode NFKC,
    whitespace collapsed, cut at a word boundary. Empty when nothing is left."""
    return _truncate(_normalise(text), MAX_SENTENCE_CHARS)


def _item_entity_edges(export: GraphExport) -> tuple[pd.DataFrame, list[tuple[str, bool]]]:
    """Every Item↔Entity relationship, in both directions, as integer rows (item, entity,
    relation); ``relation`` indexes the returned list of (type, forward) pairs, forward
    meaning ``(Item)-[type]->(Entity)``."""
    parts, relations = [], []
    for key, frame in export.edges.items():
        if (key.src, key.dst) == (ITEM, ENTITY):
            item, entity, forward = frame["src"], frame["dst"], True
        elif (key.src, key.dst) == (ENTITY, ITEM):
            item, entity, forward = frame["dst"], frame["src"], False
        else:
            continue
        parts.append(pd.DataFrame({"item": item.to_numpy(np.int64), "entity": entity.to_numpy(np.int64),
                                   "relation": len(relations)}))
        relations.append((key.type, forward))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ("item", "entity", "relation")}), relations
    return pd.concat(parts, ignore_index=True), relations


def _fact_fragments(export: GraphExport) -> list[str]:
    """The facts part of each item's sentence, aligned with the Item rows ("" for none).
    Per relation phrase, the most connected entities come first: well-known names help
    the encoder more than obscure ones. Sorting and grouping run on integer codes."""
    n_items = len(export.nodes[ITEM])
    edges, relations = _item_entity_edges(export)
    entities = export.nodes.get(ENTITY)
    if edges.empty or entities is None:
        return [""] * n_items
    degree = np.bincount(edges["entity"].to_numpy(), minlength=len(entities))
    used = np.flatnonzero(degree)
    raw_names = np.array(_raw(entities, "name"), dtype=object)[used]
    ids = entities["id"].to_numpy(object)[used]
    named = np.zeros(len(entities), dtype=bool)
    named[used] = [not is_fallback_name(n, str(i)) for n, i in zip(raw_names, ids)]
    names = np.full(len(entities), "", dtype=object)
    names[used] = [_normalise(n) for n in raw_names]
    facts = edges[named[edges["entity"].to_numpy()]]
    if facts.empty:
        return [""] * n_items

    phrased = [relation_phrase(t, f) for t, f in relations]
    templates = [template for _, template in sorted({(rank, template) for template, rank in phrased})]
    phrase_of_relation = np.array([templates.index(template) for template, _ in phrased])
    unique_names, name_code = np.unique(names[named], return_inverse=True)
    name_of_entity = np.zeros(len(entities), dtype=np.int64)
    name_of_entity[named] = name_code
    entity = facts["entity"].to_numpy()
    facts = pd.DataFrame({
        "item": facts["item"].to_numpy(), "phrase": phrase_of_relation[facts["relation"].to_numpy()],
        "popularity": -degree[entity], "name": name_of_entity[entity],
    }).sort_values(["item", "phrase", "popularity", "name"], kind="stable")
    facts = facts.drop_duplicates(["item", "phrase", "name"])
    facts = facts[facts.groupby(["item", "phrase"]).cumcount() < MAX_FACTS_PER_RELATION]

    item, phrase = facts["item"].to_numpy(), facts["phrase"].to_numpy()
    starts, listed = _join_runs(unique_names[facts["name"].to_numpy()].tolist(), ", ", item, phrase)
    fragments = [_as_sentence(templates[p].replace("{}", text)) for p, text in zip(phrase[starts], listed)]
    firsts, joined = _join_runs(fragments, " ", item[starts])
    out = [""] * n_items
    for position, text in zip(item[starts][firsts], joined):
        out[position] = text
    return out


def _property_fragments(items: pd.DataFrame) -> list[list[tuple[str, str]]]:
    """Per item, (value, "Key: value.") for each short property other than title and
    description; the value is kept so that one the sentence already states can be skipped."""
    columns = [c for c in items.columns if c not in ("id", "title", "description")]
    per_item: list[list[tuple[str, str]]] = [[] for _ in range(len(items))]
    for column in columns:
        prefix = _PROPERTY_PHRASES.get(column.lower(), f"{humanise(column).capitalize()}:")
        for i, value in enumerate(items[column].tolist()):
            text = _normalise(_format_value(value))
            if text and len(text) <= MAX_PROPERTY_CHARS:
                per_item[i].append((text, _as_sentence(f"{prefix} {text}")))
    return per_item


def _join_runs(values: list[str], sep: str, *keys: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Join each run of consecutive ``values`` whose ``keys`` are all equal (sorted keys make
    runs groups). Returns the position where each run starts and the joined texts; plain
    slicing, since pandas' ``groupby().agg(str.join)`` builds a Series per group."""
    new_run = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        new_run[1:] = np.logical_or.reduce([key[1:] != key[:-1] for key in keys])
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(values))
    return starts, [sep.join(values[a:b]) for a, b in zip(starts, ends)]


def _raw(frame: pd.DataFrame, column: str) -> list[object]:
    """A column's values, all None when the frame has no such column."""
    return frame[column].tolist() if column in frame else [None] * len(frame)


def _texts(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as whitespace-normalised strings, "" where it is absent or missing."""
    return [_normalise(_format_value(v)) for v in _raw(frame, column)]


def _format_value(value: object) -> str:
    """A property value as text: "" for missing, ``1995`` rather than ``1995.0``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _normalise(text: object) -> str:
    """NFKC, whitespace runs collapsed to one space; "" for anything but a string."""
    if not isinstance(text, str):
        return ""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _states(text: str, value: str) -> bool:
    """Whether ``text`` already contains ``value`` as a whole word or phrase."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) is not None


def _as_sentence(text: str) -> str:
    """``text`` ending in a full stop, unless it already ends in punctuation; "" stays ""."""
    if not text or text[-1] in ".!?…":
        return text
    return text + "."


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut
