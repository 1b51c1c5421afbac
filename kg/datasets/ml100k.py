"""MovieLens-100k with its linked Freebase knowledge graph, as RecBole 1.2.1 ships it.

The folder holds RecBole "atomic files": tab-separated, UTF-8, one header row whose
fields are ``name:type`` (``token``, ``token_seq``, ``float``, ``float_seq``). This module
also holds what the MovieLens-1M adapter (``kgrec.kg.datasets.ml1m``) shares with it: the
atomic-file reader, the movie facts (genre and year triples), the user attributes and
the interactions, so that both data sets read alike.

What ``load`` produces (counts checked against the files of ``recbole==1.2.1``):

- items (1,682): ``item_id`` as the source has it, ``title`` (``movie_title``),
  ``description`` composed from genres and year ("Animation, Children's, Comedy film
  from 1995."; the data has no plot text, and a title alone is thin for text
  embeddings), and the ``year`` property ("" when unknown).
- users (943): ``user_id``, ``age`` (MovieLens-1M buckets), ``gender`` (male/female),
  ``occupation`` (as the source spells it), ``zip_region`` (first digit of the zip code;
  "" for the 18 users with a Canadian, letter-first code).
- interactions (100,000): user_id, item_id, rating and timestamp as floats.
- triples: all 91,631 knowledge-graph triples, plus ``IN_GENRE`` (2,891) and
  ``RELEASED_IN`` (1,681) facts: 96,203 in all, 26 relationship types.
- entities: every non-item id in the triples (33,030 Freebase ids) plus 18 genres and 71
  years.

Knowledge graph: ``ml-100k.link`` maps 1,598 items to Freebase film ids; each of those
ids is replaced by its item id wherever it appears (head or tail), so no linked film id
is left in the triples. The 24 Freebase relations become the relationship types of
``RELATIONS`` (each direction checked against the data: e.g. ``film.film.directed_by``
has a linked film as head in all 1,727 rows and ``film.director.film`` as tail). An
entity's ``type`` comes from the role the relation gives it (the tail of ``DIRECTED_BY``
is a director); a Freebase id with several roles (a director who also writes and acts:
1,030 ids) gets the first of ``TYPE_PRIORITY``. An unlinked Freebase film (in sequel,
prequel and a few other rows) is a ``film`` entity. The data carries no names for
Freebase ids, so each entity is named by its type and id, e.g. "director m.0bxtg",
readable in an explanation and honest about what is known.

Nothing is dropped silently. Every knowledge-graph triple is kept (none is empty, a
self-loop or a duplicate). Not turned into facts: the genre "unknown" (MovieLens's mark
for "no genre", on items 267 and 1373) and the year of item 267, whose title and year
are both the source's placeholder "unkonwn". Item 1412's year field holds "V" (a split
of the original title "... (1995) (V)"); its year is taken from the "(1995)" that ends
its title instead. These counts are logged at INFO level.
"""
from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.kg.catalog import ENTITY_COLUMNS, INTERACTION_COLUMNS, TRIPLE_COLUMNS, Catalog
from kgrec.kg.errors import KgrecError

log = logging.getLogger(__name__)

NAME = "ml-100k"

# --- shared by the MovieLens adapters -------------------------------------------------

IN_GENRE = "IN_GENRE"
RELEASED_IN = "RELEASED_IN"
UNKNOWN_GENRE = "unknown"
"""MovieLens's genre for a movie without one; not turned into a fact."""

AGE_BUCKETS = ("Under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
"""MovieLens-1M's age groups; its age codes 1, 18, 25, 35, 45, 50, 56 are their lower bounds."""
_AGE_EDGES = (0, 18, 25, 35, 45, 50, 56, math.inf)

GENDERS = {"M": "male", "F": "female"}
USER_COLUMNS = ("user_id", "age", "gender", "occupation", "zip_region")

_FLOAT_TYPES = frozenset({"float"})
_KNOWN_TYPES = frozenset({"token", "token_seq", "float", "float_seq"})


def read_atomic(path: Path, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A RecBole atomic file as a DataFrame with bare column names (``user_id``, not
    ``user_id:token``): ``float`` columns as float64, every other column as strings
    ("" when empty). ``columns`` names the columns that must be present."""
    if not path.is_file():
        raise KgrecError(f"{path} is missing: fetch the data set again (kgrec data fetch)")
    with path.open(encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    names: list[str] = []
    dtypes: dict[str, object] = {}
    for field in header:
        name, _, kind = field.partition(":")
        if kind not in _KNOWN_TYPES:
            raise KgrecError(f"{path.name}: header field {field!r} is not a RecBole 'name:type' field")
        names.append(name)
        dtypes[name] = np.float64 if kind in _FLOAT_TYPES else str
    missing = [c for c in columns if c not in names]
    if missing:
        raise KgrecError(f"{path.name} has no column {', '.join(missing)} (header: {' '.join(header)})")
    frame = pd.read_csv(
        path, sep="\t", header=0, names=names, dtype=dtypes, encoding="utf-8",
        quoting=csv.QUOTE_NONE, keep_default_na=False,
        na_values={n: [""] for n, t in dtypes.items() if t is np.float64},
    )
    return frame


def age_bucket(ages: pd.Series) -> pd.Series:
    """MovieLens-1M's age group of each age in years, or of each MovieLens-1M age code
    (a code is its group's lower bound); "" when missing or not a number."""
    numbers = pd.to_numeric(ages, errors="coerce")
    groups = pd.cut(numbers, bins=list(_AGE_EDGES), right=False, labels=list(AGE_BUCKETS))
    return groups.cat.add_categories([""]).fillna("").astype(str)


def zip_region(zip_codes: pd.Series) -> pd.Series:
    """The first character of each zip code when it is a digit (the US region), else ""."""
    first = zip_codes.astype(str).str.strip().str[:1]
    return first.where(first.str.isdigit(), "").astype(str)


def users_frame(user_id: pd.Series, age: pd.Series, gender: pd.Series,
                occupation: pd.Series, zip_code: pd.Series) -> pd.DataFrame:
    """The ``users`` table both MovieLens adapters produce (see ``USER_COLUMNS``)."""
    return pd.DataFrame({
        "user_id": user_id.astype(str),
        "age": age_bucket(age),
        "gender": gender.map(GENDERS).fillna("").astype(str),
        "occupation": occupation.fillna("").astype(str),
        "zip_region": zip_region(zip_code),
    })[list(USER_COLUMNS)].reset_index(drop=True)


def interactions_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``interactions`` from an atomic ``.inter`` table (user_id, item_id, rating, timestamp)."""
    return pd.DataFrame({
        "user_id": frame["user_id"].astype(str),
        "item_id": frame["item_id"].astype(str),
        "rating": frame["rating"].astype(np.float64),
        "timestamp": frame["timestamp"].astype(np.float64),
    })[list(INTERACTION_COLUMNS)].reset_index(drop=True)


def movies(item_id: pd.Series, title: pd.Series, year: pd.Series, genres: pd.Series
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Items, fact triples and fact entities for MovieLens movies.

    ``year`` holds four-digit years or "" (unknown); ``genres`` holds space-separated
    MovieLens genres (none of them has a space: "Children's", "Film-Noir", "Sci-Fi").
    Each genre gives ``(item) -IN_GENRE-> genre:<Name>``, each year
    ``(item) -RELEASED_IN-> year:<YYYY>``; the genre "unknown" gives none.
    """
    item_id = item_id.astype(str).reset_index(drop=True)
    year = year.astype(str).reset_index(drop=True)
    listed = genres.astype(str).reset_index(drop=True).str.split()
    per_genre = pd.DataFrame({"head": item_id, "genre": listed}).explode("genre").dropna(subset=["genre"])
    unknown = per_genre["genre"] == UNKNOWN_GENRE
    if unknown.any():
        log.info("%d items have the genre %r: no IN_GENRE fact for it", int(unknown.sum()), UNKNOWN_GENRE)
    per_genre = per_genre[~unknown]
    genre_triples = pd.DataFrame({"head": per_genre["head"], "relation": IN_GENRE,
                                  "tail": "genre:" + per_genre["genre"].astype(str)})
    dated = year != ""
    year_triples = pd.DataFrame({"head": item_id[dated], "relation": RELEASED_IN, "tail": "year:" + year[dated]})

    genre_names = sorted(per_genre["genre"].unique())
    year_names = sorted(year[dated].unique())
    entities = pd.DataFrame({
        "entity_id": [f"genre:{g}" for g in genre_names] + [f"year:{y}" for y in year_names],
        "name": genre_names + year_names,
        "type": ["genre"] * len(genre_names) + ["year"] * len(year_names),
    })

    known = listed.map(lambda names: [g for g in names if g != UNKNOWN_GENRE])
    genre_text = known.str.join(", ")
    description = np.where(genre_text != "", genre_text + " film", "Film")
    description = pd.Series(description) + np.where(dated, " from " + year, "") + "."
    description = description.where((genre_text != "") | dated, "")
    items = pd.DataFrame({"item_id": item_id, "title": title.astype(str).reset_index(drop=True),
                          "description": description.astype(str), "year": year})
    triples = pd.concat([genre_triples, year_triples], ignore_index=True)[list(TRIPLE_COLUMNS)]
    return items, triples, entities[list(ENTITY_COLUMNS)]


# --- MovieLens-100k --------------------------------------------------------------------

RELATIONS: dict[str, tuple[str, str, str]] = {
    # Freebase relation: (relationship type, type of its head, type of its tail)
    "film.film.directed_by": ("DIRECTED_BY", "film", "director"),
    "film.director.film": ("DIRECTED", "director", "film"),
    "film.film.actor": ("STARRING", "film", "actor"),
    "film.actor.film": ("ACTED_IN", "actor", "film"),
    "film.film.genre": ("HAS_GENRE", "film", "genre"),
    "film.film_genre.films_in_this_genre": ("GENRE_OF", "genre", "film"),
    "film.film.award_nomination": ("NOMINATED_FOR", "film", "award"),
    "film.film.award_won": ("WON_AWARD", "film", "award"),
    "film.producer.film": ("PRODUCED", "producer", "film"),
    "film.film.produced_by": ("PRODUCED_BY", "film", "producer"),
    "film.writer.film": ("WROTE", "writer", "film"),
    "film.film.written_by": ("WRITTEN_BY", "film", "writer"),
    "film.film.language": ("IN_LANGUAGE", "film", "language"),
    "film.film.country": ("FROM_COUNTRY", "film", "country"),
    "film.cinematographer.film": ("SHOT", "cinematographer", "film"),
    "film.film.cinematography": ("CINEMATOGRAPHY_BY", "film", "cinematographer"),
    "film.production_company.films": ("COMPANY_PRODUCED", "production_company", "film"),
    "film.film.production_companies": ("PRODUCTION_COMPANY", "film", "production_company"),
    "film.film.rating": ("HAS_CONTENT_RATING", "film", "content_rating"),
    "film.content_rating.film": ("CONTENT_RATING_OF", "content_rating", "film"),
    "film.film_subject.films": ("SUBJECT_OF", "subject", "film"),
    "film.film.subjects": ("ABOUT_SUBJECT", "film", "subject"),
    # head -SEQUEL-> tail: the tail is the head's sequel (the exact reverse of PREQUEL here).
    "film.film.sequel": ("SEQUEL", "film", "film"),
    "film.film.prequel": ("PREQUEL", "film", "film"),
}

TYPE_PRIORITY = ("film", "director", "writer", "producer", "cinematographer", "actor",
                 "production_company", "award", "content_rating", "genre", "language",
                 "country", "subject")
"""An id with several roles takes the first of them in this order."""


def entity_name(entity_type: pd.Series, entity_id: pd.Series) -> pd.Series:
    """The fallback name of a Freebase entity: its type and id, e.g. "director m.0bxtg"."""
    return entity_type.str.replace("_", " ", regex=False) + " " + entity_id


def knowledge_graph(kg: pd.DataFrame, link: pd.DataFrame, item_ids: pd.Series
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Triples and entities from the ``.kg`` (head_id, relation_id, tail_id) and ``.link``
    (item_id, entity_id) tables, linked film ids replaced by item ids."""
    unknown = sorted(set(kg["relation_id"].unique()) - RELATIONS.keys())
    if unknown:
        raise KgrecError(f"{NAME}.kg has relations this adapter does not know: {', '.join(unknown)}")
    stray = ~link["item_id"].isin(item_ids)
    if stray.any():
        log.info("%d links name items that are not in the item file: their films stay entities", int(stray.sum()))
    to_item = pd.Series(link.loc[~stray, "item_id"].to_numpy(), index=link.loc[~stray, "entity_id"].to_numpy())

    table = pd.DataFrame.from_dict(RELATIONS, orient="index", columns=["type", "head_role", "tail_role"])
    rel = table.reindex(kg["relation_id"].to_numpy())
    head_item, tail_item = kg["head_id"].map(to_item), kg["tail_id"].map(to_item)
    triples = pd.DataFrame({
        "head": head_item.fillna(kg["head_id"]).astype(str),
        "relation": rel["type"].to_numpy(),
        "tail": tail_item.fillna(kg["tail_id"]).astype(str),
    })

    head_entity, tail_entity = head_item.isna().to_numpy(), tail_item.isna().to_numpy()
    roles = pd.concat([
        pd.DataFrame({"entity_id": kg["head_id"].to_numpy()[head_entity], "type": rel["head_role"].to_numpy()[head_entity]}),
        pd.DataFrame({"entity_id": kg["tail_id"].to_numpy()[tail_entity], "type": rel["tail_role"].to_numpy()[tail_entity]}),
    ], ignore_index=True)
    rank = roles["type"].map({t: i for i, t in enumerate(TYPE_PRIORITY)})
    entities = (roles.assign(rank=rank).sort_values(["rank", "entity_id"], kind="stable")
                .drop_duplicates("entity_id").sort_values("entity_id"))
    entities = pd.DataFrame({"entity_id": entities["entity_id"].astype(str),
                             "name": entity_name(entities["type"].astype(str), entities["entity_id"].astype(str)),
                             "type": entities["type"].astype(str)}).reset_index(drop=True)
    return triples, entities


def _year_of(release_year: pd.Series, title: pd.Series) -> pd.Series:
    """Four-digit release years; a year field that is not one falls back to a "(YYYY)"
    ending the title, else ""."""
    from_title = title.str.extract(r"\((\d{4})\)\s*$", expand=False).fillna("")
    valid = release_year.str.fullmatch(r"\d{4}")
    recovered = ~valid & (from_title != "")
    if recovered.any():
        log.info("%d items take their year from the title", int(recovered.sum()))
    if (~valid & ~recovered).any():
        log.info("%d items have no year", int((~valid & ~recovered).sum()))
    return release_year.where(valid, from_title).astype(str)


def load(folder: Path) -> Catalog:
    """The MovieLens-100k catalog from a folder fetched by ``kgrec.kg.datasets.fetch``."""
    folder = Path(folder)
    raw_items = read_atomic(folder / f"{NAME}.item", ("item_id", "movie_title", "release_year", "class"))
    items, fact_triples, fact_entities = movies(
        raw_items["item_id"], raw_items["movie_title"],
        _year_of(raw_items["release_year"], raw_items["movie_title"]), raw_items["class"])

    raw_users = read_atomic(folder / f"{NAME}.user", ("user_id", "age", "gender", "occupation", "zip_code"))
    users = users_frame(raw_users["user_id"], raw_users["age"], raw_users["gender"],
                        raw_users["occupation"], raw_users["zip_code"])
    interactions = interactions_frame(
        read_atomic(folder / f"{NAME}.inter", ("user_id", "item_id", "rating", "timestamp")))

    kg_triples, kg_entities = knowledge_graph(
        read_atomic(folder / f"{NAME}.kg", ("head_id", "relation_id", "tail_id")),
        read_atomic(folder / f"{NAME}.link", ("item_id", "entity_id")),
        items["item_id"])
    return Catalog(
        items=items, interactions=interactions, users=users,
        triples=pd.concat([fact_triples, kg_triples], ignore_index=True),
        entities=pd.concat([fact_entities, kg_entities], ignore_index=True),
        name=NAME,
    )
