"""Relationship types that are safe to place in Cypher, the node labels kgrec uses, and the
relationship keys (:class:`RelKey`) of interactions and user attributes.

Relationship types cannot be Cypher parameters, so every type that comes from data
is reduced to ``[A-Z][A-Z0-9_]*`` here, and anything else is refused. Dots, dashes and
spaces (as in Freebase's ``film.film.directed_by``) become underscores; every other
character (brackets, quotes, slashes, backticks, ...) makes the name invalid.
"""
from __future__ import annotations

import re
from typing import NamedTuple

ITEM, USER, ENTITY = "Item", "User", "Entity"
LABELS = (ITEM, USER, ENTITY)


class RelKey(NamedTuple):
    """A relationship type between two labels, e.g. ``RelKey("INTERACTED", "User", "Item")``."""

    type: str
    src: str
    dst: str


INTERACTED = "INTERACTED"
HAS_ATTRIBUTE = "HAS_ATTRIBUTE"
RESERVED_TYPES = frozenset({INTERACTED, HAS_ATTRIBUTE})
INTERACTIONS = RelKey(INTERACTED, USER, ITEM)
"""Where a graph export keeps the user-item interactions."""
USER_ATTRIBUTES = RelKey(HAS_ATTRIBUTE, USER, ENTITY)
"""Where a graph export keeps the users' attribute entities."""

MAX_TYPE_LENGTH = 64
_SEPARATORS = re.compile(r"[.\-\s]+")
_SAFE_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")


def relation_type(name: str) -> str | None:
    """The canonical relationship type for ``name``, or None when it is not a safe identifier."""
    candidate = _SEPARATORS.sub("_", name.strip()).strip("_").upper()
    if len(candidate) > MAX_TYPE_LENGTH or not _SAFE_TYPE.fullmatch(candidate):
        return None
    return candidate


def checked_type(name: str) -> str:
    """Guard used right before a type is placed into a Cypher statement."""
    if not _SAFE_TYPE.fullmatch(name) or len(name) > MAX_TYPE_LENGTH:
        raise ValueError(f"unsafe relationship type {name!r}")
    return name


def checked_label(label: str) -> str:
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}")
    return label
