"""Replace user ids by a keyed hash, so raw user ids never reach the store."""
from __future__ import annotations

import hashlib
import hmac

from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import KgrecError

PREFIX = "u_"
MIN_KEY_LENGTH = 16
"""Characters a pseudonym key needs at least: a short key can be guessed, and with it every
raw id recovered from its pseudonym by trying the likely ids."""


def pseudonym(user_id: str, key: str) -> str:
    """HMAC-SHA256 of the id under ``key``, shortened to 96 bits: stable for one key,
    unlinkable to the raw id without it."""
    return PREFIX + hmac.new(key.encode(), user_id.strip().encode(), hashlib.sha256).hexdigest()[:24]


def check_key(key: str) -> None:
    if len(key) < MIN_KEY_LENGTH:
        raise KgrecError(f"KGREC_PSEUDONYM_KEY has {len(key)} character(s); a pseudonym key needs at least "
                         f"{MIN_KEY_LENGTH} (a random one: python -c 'import secrets; print(secrets.token_urlsafe(32))')")


def pseudonymize_users(catalog: Catalog, key: str | None) -> Catalog:
    if not key:
        raise KgrecError("--pseudonymize-users needs a secret key in KGREC_PSEUDONYM_KEY")
    check_key(key)
    users = catalog.users.copy()
    interactions = catalog.interactions.copy()
    for frame in (users, interactions):
        filled = frame["user_id"].where(frame["user_id"].notna(), "").astype(str)
        frame["user_id"] = [pseudonym(u, key) if u.strip() else "" for u in filled]
    return Catalog(catalog.items, interactions, users, catalog.triples, catalog.entities, catalog.name)
