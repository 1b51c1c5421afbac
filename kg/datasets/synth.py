"""A synthetic catalog of any size, in the catalog format, for scale tests.

The generative story, chosen so that every signal kgrec uses is present and measurable:

- **Topics.** ``T`` latent topics; each has a name (an adjective and a noun), a handful of
  keywords, one category entity, its own brands and creators, and a set of tags.
- **Items** belong to one topic. The title is a brand-like word plus two of the topic's
  keywords; the description is a sentence made of the topic's keywords and a few
  general words, so that the *text* carries the topic (a text-only cold item is
  findable). Triples tie each item to its topic's category (``IN_CATEGORY``), one of
  its brands (``MADE_BY``), one or two of its creators (``CREATED_BY``) and several of
  its tags (``HAS_TAG``): about ten facts per item.
- **Users** have ``age``, ``gender`` and ``region`` attributes and prefer two or three
  topics (``region`` leans towards a topic, so attributes carry a little signal).
- **Interactions.** User activity is Zipf-like (a few heavy users, many light ones);
  each interaction picks one of the user's topics (80 %) or a topic by global
  popularity (20 %), then an item of that topic with Zipf-like popularity. Repeated
  (user, item) pairs are drawn again (a user never has more interactions than half
  the items), so the count written is the one asked for, or a little under it;
  ratings are 1-5, higher on preferred topics; timestamps span one year.

Everything is drawn from one seeded ``numpy`` generator: the same arguments give the same
files. Interactions are generated and written in chunks of users, so memory stays bounded
(the items and users tables are held, the interactions never are).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from kgrec.kg.errors import KgrecError

_ADJECTIVES = (
    "ancient", "arctic", "bright", "coastal", "cosmic", "crimson", "desert", "electric", "emerald", "forest",
    "frozen", "golden", "hidden", "iron", "lunar", "marble", "midnight", "misty", "northern", "ocean",
    "quiet", "rapid", "royal", "rustic", "scarlet", "silent", "silver", "solar", "stone", "storm",
    "sunny", "tidal", "urban", "velvet", "violet", "wild", "winter", "wooden", "amber", "copper",
)
_NOUNS = (
    "garden", "kitchen", "voyage", "machine", "harbor", "kingdom", "workshop", "mountain", "library", "studio",
    "engine", "forest", "market", "orchestra", "village", "canyon", "observatory", "bakery", "theater", "island",
    "festival", "circuit", "journey", "legend", "meadow", "signal", "temple", "valley", "atlas", "chronicle",
)
_WORDS = (
    "adventure", "apple", "balance", "battery", "blossom", "bridge", "candle", "castle", "cedar", "cloud",
    "comet", "coral", "cotton", "crystal", "dragon", "drum", "eagle", "ember", "falcon", "feather",
    "fern", "flame", "glacier", "granite", "harvest", "honey", "horizon", "jasmine", "lantern", "lava",
    "leather", "lemon", "lotus", "magnet", "maple", "meteor", "mirror", "moss", "nebula", "needle",
    "oak", "orbit", "paper", "pearl", "pepper", "pine", "planet", "prism", "quartz", "rain",
    "reef", "ribbon", "river", "robot", "rocket", "saddle", "salt", "sand", "satellite", "shadow",
    "shell", "silk", "snow", "spice", "spiral", "sponge", "spring", "star", "steam", "stitch",
    "summit", "thunder", "timber", "tower", "trail", "tulip", "tunnel", "velvet", "volcano", "wave",
    "whale", "willow", "wind", "wolf", "wool", "pixel", "compass", "piano", "violin", "telescope",
    "kettle", "lagoon", "puzzle", "marathon", "chess", "poetry", "cinema", "galaxy", "engineer", "sailor",
)
_GENERAL = ("a", "the", "classic", "new", "favourite", "collection", "edition", "of", "with", "and", "for", "everyday")
_REGIONS = ("north", "south", "east", "west", "central", "coast", "mountains", "islands")
_AGES = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_GENDERS = ("female", "male", "other")


@dataclass(frozen=True)
class SynthSpec:
    """The size of a synthetic catalog."""

    users: int
    items: int
    interactions: int
    seed: int = 0

    def check(self) -> None:
        if self.users < 1 or self.items < 2:
            raise KgrecError(f"a synthetic catalog needs at least 1 user and 2 items (got {self.users}, {self.items})")
        if self.interactions < 0:
            raise KgrecError(f"--interactions must not be negative (got {self.interactions})")
        if self.interactions > self.users * self.items // 2:
            raise KgrecError(f"{self.interactions:,} interactions do not fit {self.users:,} users x {self.items:,} items "
                             "at most half full: ask for fewer interactions or more users or items")


PRESETS: dict[str, SynthSpec] = {
    "synth-100k": SynthSpec(users=10_000, items=2_000, interactions=100_000),
    "synth-1m": SynthSpec(users=100_000, items=10_000, interactions=1_000_000),
    "synth-10m": SynthSpec(users=1_000_000, items=100_000, interactions=10_000_000),
}
"""Named sizes for ``kgrec data fetch synth-...``: users, items and interactions grow
together, ten interactions per user, as the scale benchmark measures them."""

USERS_PER_CHUNK = 20_000


@dataclass(frozen=True)
class SynthResult:
    folder: Path
    counts: dict[str, int]


class _Topics:
    """Topic structure: names, keywords, and the entity ids each topic owns."""

    def __init__(self, n_topics: int, n_items: int, rng: np.random.Generator) -> None:
        self.n = n_topics
        pairs = [(a, b) for a in _ADJECTIVES for b in _NOUNS]
        chosen = rng.choice(len(pairs), size=n_topics, replace=n_topics > len(pairs))
        self.names = [f"{pairs[c][0]} {pairs[c][1]}" + (f" {t // len(pairs) + 1}" if n_topics > len(pairs) else "")
                      for t, c in enumerate(chosen)]
        self.keywords = [list(rng.choice(_WORDS, size=6, replace=False)) for _ in range(n_topics)]
        self.brands_per_topic = max(1, n_items // (50 * n_topics))
        self.creators_per_topic = max(2, n_items // (20 * n_topics))
        self.tags_per_topic = 12


def generate(spec: SynthSpec, out: Path, progress: bool = True) -> SynthResult:
    """Write ``items.csv``, ``users.csv``, ``interactions.csv``, ``triples.csv`` and
    ``entities.csv`` into ``out`` (created; existing files of those names are replaced)."""
    spec.check()
    rng = np.random.default_rng(spec.seed)
    out.mkdir(parents=True, exist_ok=True)
    n_topics = int(np.clip(spec.items // 250, 4, 400))
    topics = _Topics(n_topics, spec.items, rng)
    item_topic = rng.integers(0, n_topics, size=spec.items)
    counts = {
        "entities": _write_entities(out / "entities.csv", topics),
        "items": 0,
        "triples": 0,
    }
    counts["items"], counts["triples"] = _write_items(out, topics, item_topic, rng, progress)
    user_topics, user_weights = _user_preferences(spec.users, n_topics, rng)
    counts["users"] = _write_users(out / "users.csv", user_topics, rng)
    counts["interactions"] = _write_interactions(out / "interactions.csv", spec, item_topic, user_topics, user_weights,
                                                 rng, progress)
    return SynthResult(out, counts)


def _write_entities(path: Path, topics: _Topics) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entity_id", "name", "type"])
        for t in range(topics.n):
            name = topics.names[t].title()
            writer.writerow([f"category:{t}", name, "category"])
            for b in range(topics.brands_per_topic):
                writer.writerow([f"brand:{t}-{b}", f"{topics.keywords[t][b % 6].title()} {_NOUNS[(t + b) % len(_NOUNS)].title()} Co", "brand"])
            for c in range(topics.creators_per_topic):
                writer.writerow([f"creator:{t}-{c}", f"{_WORDS[(t * 7 + c) % len(_WORDS)].title()} {_ADJECTIVES[(t + c) % len(_ADJECTIVES)].title()}", "creator"])
            for g in range(topics.tags_per_topic):
                writer.writerow([f"tag:{t}-{g}", f"{topics.keywords[t][g % 6]} {_WORDS[(t + 3 * g) % len(_WORDS)]}", "tag"])
            rows += 1 + topics.brands_per_topic + topics.creators_per_topic + topics.tags_per_topic
    return rows


def _write_items(out: Path, topics: _Topics, item_topic: np.ndarray, rng: np.random.Generator,
                 progress: bool) -> tuple[int, int]:
    triples = 0
    with (out / "items.csv").open("w", newline="", encoding="utf-8") as items_handle, \
            (out / "triples.csv").open("w", newline="", encoding="utf-8") as triples_handle:
        items, facts = csv.writer(items_handle), csv.writer(triples_handle)
        items.writerow(["item_id", "title", "description", "price"])
        facts.writerow(["head", "relation", "tail"])
        for i in tqdm(range(len(item_topic)), desc="synth: items", unit="item", disable=not progress, mininterval=1.0):
            t = int(item_topic[i])
            words = topics.keywords[t]
            pick = rng.choice(6, size=4, replace=False)
            general = rng.choice(_GENERAL, size=2)
            title = f"{words[pick[0]].title()} {words[pick[1]].title()} {_WORDS[rng.integers(len(_WORDS))].title()}"
            description = (f"{general[0].capitalize()} {topics.names[t]} {general[1]}: {words[pick[0]]}, "
                           f"{words[pick[2]]} and {words[pick[3]]}.")
            item_id = f"i{i}"
            items.writerow([item_id, title, description, f"{rng.gamma(2.0, 15.0):.2f}"])
            facts.writerow([item_id, "IN_CATEGORY", f"category:{t}"])
            facts.writerow([item_id, "MADE_BY", f"brand:{t}-{rng.integers(topics.brands_per_topic)}"])
            creators = rng.choice(topics.creators_per_topic, size=1 + int(rng.random() < 0.5), replace=False)
            tags = rng.choice(topics.tags_per_topic, size=int(rng.integers(4, 9)), replace=False)
            facts.writerows([item_id, "CREATED_BY", f"creator:{t}-{c}"] for c in creators)
            facts.writerows([item_id, "HAS_TAG", f"tag:{t}-{g}"] for g in tags)
            triples += 2 + len(creators) + len(tags)
    return len(item_topic), triples


def _user_preferences(n_users: int, n_topics: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three preferred topics per user ``(U, 3)`` and their weights ``(U, 3)`` (rows sum to 1)."""
    popularity = _zipf_weights(n_topics, 0.8, rng)
    favourite = rng.choice(n_topics, size=(n_users, 3), p=popularity)
    weights = rng.dirichlet((2.0, 1.0, 0.5), size=n_users)
    return favourite, weights


def _write_users(path: Path, user_topics: np.ndarray, rng: np.random.Generator) -> int:
    n = len(user_topics)
    region = np.where(rng.random(n) < 0.6, user_topics[:, 0] % len(_REGIONS), rng.integers(len(_REGIONS), size=n))
    age = rng.integers(len(_AGES), size=n)
    gender = rng.choice(len(_GENDERS), size=n, p=(0.49, 0.49, 0.02))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "age", "gender", "region"])
        writer.writerows([f"u{u}", _AGES[age[u]], _GENDERS[gender[u]], _REGIONS[region[u]]] for u in range(n))
    return n


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Weights ``1 / rank^exponent`` over ``n`` slots in a random order, summing to 1."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def _write_interactions(path: Path, spec: SynthSpec, item_topic: np.ndarray, user_topics: np.ndarray,
                        user_weights: np.ndarray, rng: np.random.Generator, progress: bool) -> int:
    n_topics = int(user_topics.max(initial=0)) + 1 if len(user_topics) else 1
    n_topics = max(n_topics, int(item_topic.max()) + 1)
    # Items of each topic in one sorted array; within a topic, Zipf-like popularity. A
    # topic's cumulative weights run from t to t + 1, so one searchsorted over all topics
    # draws an item of the topic asked for.
    order = np.argsort(item_topic, kind="stable")
    sorted_topic = item_topic[order]
    starts = np.searchsorted(sorted_topic, np.arange(n_topics + 1))
    key = np.empty(len(order))
    for t in range(n_topics):
        size = starts[t + 1] - starts[t]
        if size:
            key[starts[t]: starts[t + 1]] = t + np.cumsum(_zipf_weights(size, 1.0, rng))
    nonempty = np.flatnonzero(np.diff(starts) > 0)
    topic_popularity = np.diff(starts).astype(float)[nonempty]
    topic_popularity /= topic_popularity.sum()
    activity = _zipf_weights(spec.users, 0.6, rng)
    per_user = rng.multinomial(spec.interactions, activity) if spec.interactions else np.zeros(spec.users, int)
    per_user = np.minimum(per_user, spec.items // 2)
    written = 0
    year = 365 * 24 * 3600
    start_time = 1_700_000_000
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "rating", "timestamp"])
        bar = tqdm(total=int(per_user.sum()), desc="synth: interactions", unit="row", disable=not progress,
                   mininterval=1.0, unit_scale=True)
        for first in range(0, spec.users, USERS_PER_CHUNK):
            users = np.arange(first, min(first + USERS_PER_CHUNK, spec.users))
            wanted = per_user[users]
            # Draw more than wanted, drop repeated pairs, keep each user's first ``wanted``.
            owner = np.repeat(users, wanted + np.ceil(wanted * 0.5).astype(int) + (wanted > 0) * 2)
            if owner.size == 0:
                continue
            slot = _categorical_rows(user_weights[owner], rng)
            topic = user_topics[owner, slot]
            explore = rng.random(owner.size) < 0.2
            topic[explore] = nonempty[rng.choice(len(nonempty), size=int(explore.sum()), p=topic_popularity)]
            empty = starts[topic + 1] == starts[topic]
            topic[empty] = nonempty[rng.integers(len(nonempty), size=int(empty.sum()))]
            position = np.searchsorted(key, topic + rng.random(owner.size) * (1 - 1e-12), side="right")
            position = np.clip(position, starts[topic], starts[topic + 1] - 1)
            item = order[position]
            keep = np.sort(np.unique(owner.astype(np.int64) * spec.items + item, return_index=True)[1])
            group_start = np.searchsorted(owner[keep], owner[keep])
            keep = keep[np.arange(keep.size) - group_start < per_user[owner[keep]]]
            owner, item, preferred = owner[keep], item[keep], ~explore[keep]
            rating = np.clip(np.rint(rng.normal(3.2 + 0.9 * preferred, 0.9)), 1, 5).astype(int)
            when = start_time + rng.integers(0, year, size=owner.size)
            writer.writerows(zip((f"u{u}" for u in owner.tolist()), (f"i{i}" for i in item.tolist()),
                                 rating.tolist(), when.tolist()))
            written += owner.size
            bar.update(int(wanted.sum()))
        bar.close()
    return written


def _categorical_rows(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row of ``weights`` ``(n, k)``, drawn with that row's weights."""
    return (rng.random((len(weights), 1)) > np.cumsum(weights, axis=1)[:, :-1]).sum(axis=1)
