"""The evaluation protocols as seeded, deterministic splits of a graph's interactions.

- ``warm``: per user, a random 20% of its interactions is the test set; of the other 80%,
  a random 10% (per user) is held out as validation for early stopping.
- ``cold-item``: 20% of the items that have interactions are held out with all their
  interactions (the test set); validation is a random 10% per user of the rest.
- ``cold-user``: 20% of the users that have interactions are held out with all their
  interactions (the test set); validation is a random 10% per user of the rest. At
  evaluation each held-out user is revealed with 0, 1, 3 or 5 of its interactions, the
  *earliest* by timestamp (ties and missing timestamps broken at random by the seed),
  so the revealed sets are nested and mimic a user arriving; the rest are its test items.
- ``cold-item-text``: the ``cold-item`` split, and the held-out items also lose their
  knowledge-graph facts (every non-interaction edge touching them,
  :func:`without_item_facts`): they arrive with only a title, a description and
  properties, as a merchant adds items.
- ``text-user``: the ``cold-user`` split; each held-out user arrives as words only, the
  titles and genres of its first 1, 3 or 5 items written as one sentence
  (:func:`describe_items`), no ids and no attributes.
- ``aldi``: the cold-start protocol of ALDI (Huang et al., SIGIR 2023; its code's
  ``data/split.py``) and LLM-InS (arXiv 2402.09176). 20% of the items that have
  interactions are cold, with all their interactions held out; the cold items are split
  *per item*, 1:1, into validation items and test items (each cold item's interactions
  all go to one side, so no test item is ever seen in validation); the warm interactions
  are split 8:1:1 *at random over interactions* (not per user) into train, validation and
  test, and, as ALDI does, a validation (then test) pair whose user or item has no
  training pair left is moved back to train. The cold items keep their text and their
  knowledge-graph facts (ALDI's cold items keep their content features; here the content
  is the item's text and its facts, genres and release year on MovieLens). Unlike ALDI's
  code, which drops cold pairs of users without any training pair, those stay in the
  cold validation/test part, so every interaction is in exactly one part.

Counts per user are floored as RecBole does (``int(0.2 * n)`` test items), so a user with
fewer than 5 interactions keeps them all in training under ``warm``.

A split is indices into one export; ``save`` writes it as CSV files of ids plus a
``split.json`` manifest (protocol, seed, counts, a fingerprint of the catalog), so an
outside harness can score on exactly the same split, and ``load`` maps the ids back.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphExport
from kgrec.kg.identifiers import INTERACTIONS

log = logging.getLogger(__name__)

ALDI_PROTOCOL = "aldi"
PROTOCOLS = ("warm", "cold-item", "cold-user", "cold-item-text", "text-user", ALDI_PROTOCOL)
ITEM_PROTOCOLS = ("cold-item", "cold-item-text")
"""Protocols that hold out items (with all their interactions) as the test set."""
HELD_OUT_ITEM_PROTOCOLS = (*ITEM_PROTOCOLS, ALDI_PROTOCOL)
"""Protocols whose split has ``cold_items`` (written to ``cold_items.csv``)."""
ALDI_COLD_SPLIT = 0.5
"""The share of ``aldi``'s cold items whose interactions are validation (the rest: test)."""
USER_PROTOCOLS = ("cold-user", "text-user")
"""Protocols that hold out users (with all their interactions)."""
REVEAL_COUNTS = (0, 1, 3, 5)
TEXT_REVEAL_COUNTS = (1, 3, 5)
"""How many of a ``text-user``'s items its sentence names."""
FORMAT_VERSION = 1


@dataclass
class Split:
    """Which interactions a recommender may learn from and which it is scored on.

    ``train``, ``valid`` and ``test`` are ``(2, E)`` int64 arrays of (user index, item
    index) into the export they were made from; together they hold every interaction
    exactly once. ``cold_items`` / ``cold_users`` are the held-out item / user indices
    (empty for the other protocols; for ``aldi`` both the validation and the test cold
    items). For ``cold-user``, ``test`` holds all the held-out
    users' interactions and ``reveal_rank[j]`` is the order in which ``test[:, j]`` is
    revealed within its user (0 = first); use ``revealed(n)`` and ``test_after(n)``.
    """

    protocol: str
    seed: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    cold_items: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    cold_users: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    reveal_rank: np.ndarray | None = None
    fingerprint: str = ""

    def revealed(self, n: int) -> np.ndarray:
        """The first ``n`` interactions of each held-out user (cold-user only)."""
        if self.reveal_rank is None:
            return np.empty((2, 0), np.int64)
        return self.test[:, self.reveal_rank < n]

    def test_after(self, n: int) -> np.ndarray:
        """The test pairs when ``n`` interactions per held-out user are revealed."""
        if self.reveal_rank is None:
            return self.test
        return self.test[:, self.reveal_rank >= n]

    def counts(self) -> dict[str, int]:
        return {
            "train": self.train.shape[1],
            "valid": self.valid.shape[1],
            "test": self.test.shape[1],
            "cold_items": len(self.cold_items),
            "cold_users": len(self.cold_users),
        }


def interactions(export: GraphExport) -> np.ndarray:
    """All (user, item) interaction pairs of an export, ``(2, E)`` int64."""
    if INTERACTIONS not in export.edges:
        return np.empty((2, 0), np.int64)
    return export.edge_index(INTERACTIONS)


def make_split(export: GraphExport, protocol: str, seed: int = 0, test_ratio: float = 0.2, valid_ratio: float = 0.1) -> Split:
    """Split ``export``'s interactions under ``protocol`` (see the module docstring).

    ``test_ratio`` is the share of test interactions per user (``warm``), of held-out
    items or users, and of cold items under ``aldi``; ``valid_ratio`` the share of
    validation interactions, and under ``aldi`` of both validation and test warm pairs."""
    if protocol not in PROTOCOLS:
        raise KgrecError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    pairs = interactions(export)
    if pairs.shape[1] == 0:
        raise KgrecError("the graph has no interactions to split; ingest a catalog with interactions first")
    rng = np.random.default_rng(seed)
    if protocol == ALDI_PROTOCOL:
        train, valid, test, cold_items = _aldi_parts(pairs, test_ratio, valid_ratio, rng)
        return Split(protocol, seed, train, valid, test, cold_items=cold_items, fingerprint=fingerprint(export))
    cold_items = cold_users = np.empty(0, np.int64)
    rank = None
    if protocol == "warm":
        is_test = _per_user_fraction(pairs[0], test_ratio, rng)
    elif protocol in ITEM_PROTOCOLS:
        cold_items = _choose(np.unique(pairs[1]), test_ratio, rng)
        is_test = np.isin(pairs[1], cold_items)
    else:
        cold_users = _choose(np.unique(pairs[0]), test_ratio, rng)
        is_test = np.isin(pairs[0], cold_users)
    rest = pairs[:, ~is_test]
    is_valid = _per_user_fraction(rest[0], valid_ratio, rng)
    test = pairs[:, is_test]
    if protocol in USER_PROTOCOLS:
        ts = _timestamps(export)[is_test]
        rank = _rank_by_time(test[0], ts, rng)
    return Split(
        protocol=protocol,
        seed=seed,
        train=rest[:, ~is_valid],
        valid=rest[:, is_valid],
        test=test,
        cold_items=cold_items,
        cold_users=cold_users,
        reveal_rank=rank,
        fingerprint=fingerprint(export),
    )


_TRAIN, _VALID, _TEST = 0, 1, 2


def _aldi_parts(pairs: np.ndarray, cold_ratio: float, holdout: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``aldi``'s train, validation and test pairs and its cold items (module docstring),
    in the order of ALDI's ``data/split.py``."""
    cold_items = _choose(np.unique(pairs[1]), cold_ratio, rng)
    is_cold = np.isin(pairs[1], cold_items)
    shuffled = rng.permutation(cold_items)
    valid_items = shuffled[: int(ALDI_COLD_SPLIT * len(shuffled))]
    part = np.full(pairs.shape[1], _TRAIN, dtype=np.int8)
    part[is_cold] = np.where(np.isin(pairs[1, is_cold], valid_items), _VALID, _TEST)
    warm = rng.permutation(np.flatnonzero(~is_cold))
    n_held = int(holdout * len(warm))
    part[warm[:n_held]] = _VALID
    part[warm[n_held : 2 * n_held]] = _TEST
    sizes = pairs.max(axis=1) + 1
    for held in (_VALID, _TEST):
        for axis in (0, 1):  # users, then items, as ALDI does
            in_train = np.zeros(sizes[axis], dtype=bool)
            in_train[pairs[axis, part == _TRAIN]] = True
            part[(part == held) & ~is_cold & ~in_train[pairs[axis]]] = _TRAIN
    return pairs[:, part == _TRAIN], pairs[:, part == _VALID], pairs[:, part == _TEST], cold_items


def _per_user_fraction(users: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """A mask picking ``int(ratio * n_u)`` random interactions of each user."""
    order = _random_rank(users, rng.random(len(users)))
    sizes = np.bincount(users, minlength=users.max() + 1 if len(users) else 0)
    return order < np.floor(ratio * sizes[users] + 1e-9).astype(np.int64)


def _random_rank(groups: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Rank of each element within its group when sorted by ``keys``."""
    return _rank_in_order(groups, np.lexsort((keys, groups)))


def _rank_by_time(users: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank within each user by timestamp (missing last), ties broken at random."""
    tie = rng.random(len(users))
    ts = np.where(np.isnan(ts), np.inf, ts)
    return _rank_in_order(users, np.lexsort((tie, ts, users)))


def _rank_in_order(groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each element's position within its group, given an ``order`` sorted by group first."""
    rank = np.empty(len(groups), np.int64)
    g = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    rank[order] = np.arange(len(g)) - first
    return rank


def _choose(population: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    n = int(round(ratio * len(population)))
    return np.sort(rng.choice(population, size=n, replace=False)).astype(np.int64)


def _timestamps(export: GraphExport) -> np.ndarray:
    frame = export.edges[INTERACTIONS]
    if "ts" not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame["ts"], errors="coerce").to_numpy(np.float64)


def fingerprint(export: GraphExport) -> str:
    """A short hash of the item and user ids and the interaction pairs (as ids)."""
    h = hashlib.sha256()
    users, items = export.ids("User"), export.ids("Item")
    for label, ids in (("Item", items), ("User", users)):
        h.update(label.encode())
        h.update("\x1f".join(map(str, ids)).encode())
    pairs = interactions(export)
    h.update(b"INTERACTED")
    u = np.asarray(users, dtype=object)[pairs[0]] if pairs.size else np.empty(0, object)
    i = np.asarray(items, dtype=object)[pairs[1]] if pairs.size else np.empty(0, object)
    h.update("\x1e".join(sorted(f"{a}\x1f{b}" for a, b in zip(u, i))).encode())
    return h.hexdigest()[:16]


def _reveal_counts(protocol: str) -> tuple[int, ...]:
    return {"cold-user": REVEAL_COUNTS, "text-user": TEXT_REVEAL_COUNTS}.get(protocol, ())


def without_item_facts(export: GraphExport, items: np.ndarray) -> GraphExport:
    """A shallow copy of ``export`` without any edge other than INTERACTED that touches one
    of ``items`` (Item–Entity facts either way, Item–Item ones such as sequels): what is
    left of those items is their node row, title, description and properties."""
    drop = np.zeros(len(export.nodes["Item"]), dtype=bool)
    drop[np.asarray(items, dtype=np.int64)] = True
    edges = {}
    for key, frame in export.edges.items():
        if key == INTERACTIONS or "Item" not in (key.src, key.dst):
            edges[key] = frame
            continue
        touches = np.zeros(len(frame), dtype=bool)
        if key.src == "Item":
            touches |= drop[frame["src"].to_numpy(np.int64)]
        if key.dst == "Item":
            touches |= drop[frame["dst"].to_numpy(np.int64)]
        edges[key] = frame[~touches].reset_index(drop=True)
    return GraphExport(nodes=export.nodes, edges=edges)


def describe_items(export: GraphExport, items: list[int]) -> str:
    """What a ``text-user`` says: the titles of ``items`` with their genre names (the
    facts an item's sentence lists first, :func:`kgrec.text.sentences.relation_phrase`), as one
    sentence without ids: ``"I liked Heat (Action, Crime), Fargo (Crime, Drama)."``"""
    titles = export.nodes["Item"]["title"].fillna("").astype(str).tolist() if "title" in export.nodes["Item"] else []
    genres = _genre_names(export, set(items))
    parts = []
    for item in items:
        title = titles[item].strip() if item < len(titles) else ""
        names = genres.get(item, [])
        parts.append(f"{title} ({', '.join(names)})" if names and title else title or ", ".join(names))
    return "I liked " + ", ".join(p for p in parts if p) + "."


def _genre_names(export: GraphExport, items: set[int]) -> dict[int, list[str]]:
    """The names of each of ``items``' entities under the first-ranked relation phrase
    the catalog has (genres on MovieLens), in edge order, without fallback names."""
    from kgrec.text.sentences import is_fallback_name, relation_phrase

    entities = export.nodes.get("Entity")
    if entities is None:
        return {}
    candidates = []
    for key, frame in export.edges.items():
        if {key.src, key.dst} != {"Item", "Entity"}:
            continue
        forward = key.src == "Item"
        _, rank = relation_phrase(key.type, forward)
        candidates.append((rank, key, frame, forward))
    if not candidates:
        return {}
    best = min(rank for rank, *_ in candidates)
    names = entities["name"].astype(str).tolist() if "name" in entities else []
    ids = entities["id"].astype(str).tolist()
    out: dict[int, list[str]] = {}
    for rank, key, frame, forward in candidates:
        if rank != best:
            continue
        item_col, entity_col = ("src", "dst") if forward else ("dst", "src")
        for item, entity in zip(frame[item_col].to_numpy(np.int64), frame[entity_col].to_numpy(np.int64)):
            if int(item) in items and names and not is_fallback_name(names[entity], ids[entity]):
                found = out.setdefault(int(item), [])
                if names[entity] not in found:
                    found.append(names[entity])
    return out


# --- files -------------------------------------------------------------------------------

PAIR_FILES = ("train", "valid", "test")


def save(split: Split, directory: Path | str, export: GraphExport) -> Path:
    """Write ``split`` under ``directory`` as ``train.csv``, ``valid.csv``, ``test.csv``
    (``user_id,item_id``; cold-user tests add ``reveal_rank``), ``cold_items.csv`` /
    ``cold_users.csv`` where the protocol has them, and ``split.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    users = np.asarray(export.ids("User"), dtype=object)
    items = np.asarray(export.ids("Item"), dtype=object)
    for name in PAIR_FILES:
        pairs = getattr(split, name)
        frame = pd.DataFrame({"user_id": users[pairs[0]], "item_id": items[pairs[1]]})
        if name == "test" and split.reveal_rank is not None:
            frame["reveal_rank"] = split.reveal_rank
        frame.to_csv(directory / f"{name}.csv", index=False)
    if split.protocol in HELD_OUT_ITEM_PROTOCOLS:
        pd.DataFrame({"item_id": items[split.cold_items]}).to_csv(directory / "cold_items.csv", index=False)
    if split.protocol in USER_PROTOCOLS:
        pd.DataFrame({"user_id": users[split.cold_users]}).to_csv(directory / "cold_users.csv", index=False)
    manifest = {
        "format": FORMAT_VERSION,
        "protocol": split.protocol,
        "seed": split.seed,
        "counts": split.counts(),
        "fingerprint": split.fingerprint or fingerprint(export),
        "reveal_counts": list(_reveal_counts(split.protocol)),
        "reveal_order": "earliest by timestamp, ties at random" if split.protocol in USER_PROTOCOLS else None,
        "ids": "user_id and item_id are the catalog's ids",
    }
    if split.protocol == ALDI_PROTOCOL:
        manifest["aldi"] = {
            "cold_items": "cold_items.csv: validation and test cold items; a cold item's pairs are all in valid.csv or all in test.csv",
            "cold_split": "per item, 1:1 validation:test",
            "warm_split": "8:1:1 train:valid:test at random over interactions; held-out pairs without a training user or item moved to train",
            "cold_item_facts": "kept (cold items keep their text and knowledge-graph facts)",
        }
    (directory / "split.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return directory


def load(directory: Path | str, export: GraphExport) -> Split:
    """Read a split written by ``save`` and map its ids onto ``export``'s indices.

    Raises ``KgrecError`` when the folder is not a split, or when an id or an interaction
    in it is not in the catalog. A fingerprint that differs from the catalog's is logged
    as a warning (the catalog changed since the split was made) but is not an error while
    every id still resolves.
    """
    directory = Path(directory)
    manifest_path = directory / "split.json"
    if not manifest_path.is_file():
        raise KgrecError(f"{directory} holds no split (no split.json)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        protocol, seed = manifest["protocol"], int(manifest["seed"])
    except (ValueError, KeyError) as error:
        raise KgrecError(f"{manifest_path} is not a valid split manifest: {error}") from error
    if protocol not in PROTOCOLS:
        raise KgrecError(f"{manifest_path}: unknown protocol {protocol!r}")
    current = fingerprint(export)
    if manifest.get("fingerprint") != current:
        log.warning("split %s was made from a different catalog (fingerprint %s, now %s)", directory, manifest.get("fingerprint"), current)
    user_index = {str(k): v for k, v in export.index("User").items()}
    item_index = {str(k): v for k, v in export.index("Item").items()}
    known = set(zip(*interactions(export).tolist())) if interactions(export).size else set()
    parts: dict[str, np.ndarray] = {}
    rank = None
    for name in PAIR_FILES:
        frame = _read_csv(directory / f"{name}.csv", ("user_id", "item_id"))
        u = _to_index(frame["user_id"], user_index, "user", directory / f"{name}.csv")
        i = _to_index(frame["item_id"], item_index, "item", directory / f"{name}.csv")
        pairs = np.vstack([u, i]).astype(np.int64).reshape(2, -1)
        missing = [(a, b) for a, b in zip(pairs[0].tolist(), pairs[1].tolist()) if (a, b) not in known]
        if missing:
            a, b = missing[0]
            raise KgrecError(
                f"{directory / f'{name}.csv'}: {len(missing)} interaction(s) are not in the catalog, "
                f"e.g. user {export.ids('User')[a]!r} - item {export.ids('Item')[b]!r}"
            )
        parts[name] = pairs
        if name == "test" and protocol in USER_PROTOCOLS:
            if "reveal_rank" not in frame:
                raise KgrecError(f"{directory / 'test.csv'}: a {protocol} split needs a reveal_rank column")
            rank = pd.to_numeric(frame["reveal_rank"]).to_numpy(np.int64)
    cold_items = cold_users = np.empty(0, np.int64)
    if protocol in HELD_OUT_ITEM_PROTOCOLS:
        cold_items = _to_index(_read_csv(directory / "cold_items.csv", ("item_id",))["item_id"], item_index, "item", directory / "cold_items.csv")
    if protocol in USER_PROTOCOLS:
        cold_users = _to_index(_read_csv(directory / "cold_users.csv", ("user_id",))["user_id"], user_index, "user", directory / "cold_users.csv")
    split = Split(protocol, seed, parts["train"], parts["valid"], parts["test"], np.sort(cold_items), np.sort(cold_users), rank, manifest.get("fingerprint", ""))
    total = sum(p.shape[1] for p in parts.values())
    if total != len(known):
        log.warning("split %s covers %d interactions; the catalog has %d", directory, total, len(known))
    return split


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise KgrecError(f"split file {path} is missing")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    lacking = [c for c in columns if c not in frame.columns]
    if lacking:
        raise KgrecError(f"{path} lacks column(s) {', '.join(lacking)}")
    return frame


def _to_index(ids: pd.Series, index: dict[str, int], what: str, path: Path) -> np.ndarray:
    mapped = ids.map(index)
    if mapped.isna().any():
        unknown = ids[mapped.isna()].unique()
        raise KgrecError(f"{path}: {len(unknown)} {what} id(s) are not in the catalog, e.g. {unknown[0]!r}")
    return mapped.to_numpy(np.int64)
