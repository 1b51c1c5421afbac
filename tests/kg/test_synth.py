"""The synthetic catalog: reproducible, valid in the catalog format, with the signals it promises."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kgrec.kg.datasets.synth import SynthSpec, generate
from kgrec.kg.errors import KgrecError
from kgrec.kg.reader import read_catalog
from kgrec.kg.validate import validate

SMALL = SynthSpec(users=500, items=2_500, interactions=8_000, seed=3)
FILES = ("items.csv", "users.csv", "interactions.csv", "triples.csv", "entities.csv")


def _digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    generate(SMALL, folder, progress=False)
    return folder


def test_same_seed_same_files_other_seed_other_files(synth: Path, tmp_path: Path) -> None:
    generate(SMALL, tmp_path / "again", progress=False)
    generate(SynthSpec(SMALL.users, SMALL.items, SMALL.interactions, seed=4), tmp_path / "other", progress=False)
    assert _digests(tmp_path / "again") == _digests(synth)
    assert _digests(tmp_path / "other")["interactions.csv"] != _digests(synth)["interactions.csv"]


def test_counts_and_a_clean_validation(synth: Path) -> None:
    catalog, files, rejections = read_catalog(synth)
    assert rejections == []
    valid, report = validate(catalog, lambda label, ids: set(), (1.0, 5.0), files)
    assert report.rejections == []
    assert len(valid.items) == SMALL.items and len(valid.users) == SMALL.users
    # Repeated pairs are drawn again: nearly every interaction asked for is written.
    assert 0.95 * SMALL.interactions <= len(valid.interactions) <= SMALL.interactions
    assert not valid.interactions.duplicated(["user_id", "item_id"]).any()
    assert 8 * SMALL.items <= len(valid.triples) <= 12 * SMALL.items


def test_popularity_is_skewed_and_text_follows_the_topic(synth: Path) -> None:
    interactions = pd.read_csv(synth / "interactions.csv")
    counts = interactions["item_id"].value_counts().to_numpy()
    top_tenth = counts[: max(1, len(counts) // 10)].sum() / counts.sum()
    assert top_tenth > 0.25  # uniform would be 0.10
    items = pd.read_csv(synth / "items.csv").set_index("item_id")
    category = pd.read_csv(synth / "triples.csv").query("relation == 'IN_CATEGORY'").set_index("head")["tail"]
    names = pd.read_csv(synth / "entities.csv").set_index("entity_id")["name"]
    # Every description names its topic (the category's name, lower-cased).
    named = [names[category[i]].lower() in items.loc[i, "description"].lower() for i in items.index]
    assert all(named)
    # Users stay mostly within their preferred topics: a user's items share categories far
    # more often than random items do.
    by_user = interactions.assign(topic=interactions["item_id"].map(category)).groupby("user_id")["topic"]
    share = by_user.agg(lambda t: t.value_counts().iloc[0] / len(t))[by_user.size() >= 10].mean()
    n_topics = category.nunique()
    assert n_topics == 10 and share > 2.5 / n_topics


def test_impossible_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KgrecError, match="do not fit"):
        generate(SynthSpec(users=2, items=4, interactions=100), tmp_path, progress=False)
    with pytest.raises(KgrecError, match="at least"):
        generate(SynthSpec(users=0, items=4, interactions=0), tmp_path, progress=False)
    assert not np.any([(tmp_path / name).exists() for name in FILES])
