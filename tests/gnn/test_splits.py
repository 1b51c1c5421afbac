"""The evaluation splits: deterministic, disjoint, complete; files round-trip."""
import json

import numpy as np
import pandas as pd
import pytest

from eval_fixtures import random_export
from kgrec.gnn.splits import PROTOCOLS, interactions, load, make_split, save
from kgrec.kg.errors import KgrecError


def as_set(pairs):
    return set(zip(pairs[0].tolist(), pairs[1].tolist()))


@pytest.fixture(scope="module")
def export():
    return random_export(n_users=50, n_items=40, per_user=12)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_seed_same_split_other_seed_other_split(export, protocol):
    a, b, c = make_split(export, protocol, 3), make_split(export, protocol, 3), make_split(export, protocol, 4)
    for name in ("train", "valid", "test"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert as_set(a.test) != as_set(c.test)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_interaction_in_exactly_one_part(export, protocol):
    split = make_split(export, protocol, 0)
    parts = [as_set(split.train), as_set(split.valid), as_set(split.test)]
    assert sum(len(p) for p in parts) == interactions(export).shape[1]
    assert set.union(*parts) == as_set(interactions(export))
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_warm_is_per_user_80_20_with_10_percent_validation(export):
    split = make_split(export, "warm", 0)
    for u in range(50):
        n_test = np.sum(split.test[0] == u)
        n_valid = np.sum(split.valid[0] == u)
        assert n_test == int(0.2 * 12)
        assert n_valid == int(0.1 * (12 - n_test))


def test_cold_items_have_no_training_interactions(export):
    split = make_split(export, "cold-item", 0)
    assert len(split.cold_items) == round(0.2 * 40)
    assert not np.isin(split.train[1], split.cold_items).any()
    assert not np.isin(split.valid[1], split.cold_items).any()
    assert np.isin(split.test[1], split.cold_items).all()


def test_text_protocols_split_like_their_id_twins(export):
    for text_protocol, twin in (("cold-item-text", "cold-item"), ("text-user", "cold-user")):
        a, b = make_split(export, text_protocol, 1), make_split(export, twin, 1)
        for name in ("train", "valid", "test", "cold_items", "cold_users"):
            assert np.array_equal(getattr(a, name), getattr(b, name))


def test_without_item_facts_drops_every_fact_edge_of_the_items_only(export):
    from kgrec.kg.graph import GraphExport, RelKey
    from kgrec.gnn.splits import without_item_facts

    genre = RelKey("HAS_GENRE", "Item", "Entity")
    sequel = RelKey("SEQUEL", "Item", "Item")
    of = RelKey("GENRE_OF", "Entity", "Item")
    edges = {**export.edges, genre: pd.DataFrame({"src": [0, 1, 2], "dst": [0, 1, 0]}),
             sequel: pd.DataFrame({"src": [0, 2], "dst": [2, 3]}), of: pd.DataFrame({"src": [1, 0], "dst": [1, 3]})}
    stripped = without_item_facts(GraphExport(export.nodes, edges), np.array([1, 2]))
    assert stripped.edges[genre]["src"].tolist() == [0]
    assert stripped.edges[sequel].empty
    assert stripped.edges[of]["dst"].tolist() == [3]
    assert len(stripped.edges[("INTERACTED", "User", "Item")]) == len(export.edges[("INTERACTED", "User", "Item")])


def test_cold_users_revealed_earliest_and_nested(export):
    split = make_split(export, "cold-user", 0)
    assert len(split.cold_users) == 10
    assert not np.isin(split.train[0], split.cold_users).any()
    assert not np.isin(split.valid[0], split.cold_users).any()
    ts = export.edges[("INTERACTED", "User", "Item")].set_index(["src", "dst"])["ts"]
    for n in (1, 3, 5):
        shown, rest = split.revealed(n), split.test_after(n)
        assert shown.shape[1] == 10 * n
        assert as_set(shown) | as_set(rest) == as_set(split.test)
        assert not (as_set(shown) & as_set(rest))
        assert as_set(split.revealed(n - 1 if n == 1 else n - 2)) <= as_set(shown)
        for u in split.cold_users:
            shown_ts = [ts[(u, i)] for i in shown[1, shown[0] == u]]
            rest_ts = [ts[(u, i)] for i in rest[1, rest[0] == u]]
            assert max(shown_ts) <= min(rest_ts)
    assert split.revealed(0).shape[1] == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_save_load_round_trip(export, protocol, tmp_path):
    split = make_split(export, protocol, 7)
    save(split, tmp_path, export)
    manifest = json.loads((tmp_path / "split.json").read_text())
    assert manifest["protocol"] == protocol and manifest["seed"] == 7
    assert manifest["counts"]["test"] == split.test.shape[1]
    assert pd.read_csv(tmp_path / "train.csv", dtype=str)["user_id"].str.startswith("u").all()  # ids, not indices
    back = load(tmp_path, export)
    for name in ("train", "valid", "test"):
        assert as_set(getattr(back, name)) == as_set(getattr(split, name))
    assert np.array_equal(back.cold_items, split.cold_items)
    assert np.array_equal(back.cold_users, split.cold_users)
    if protocol in ("cold-user", "text-user"):
        for n in (0, 1, 3, 5):
            assert as_set(back.revealed(n)) == as_set(split.revealed(n))


def test_load_rejects_ids_not_in_catalog(export, tmp_path):
    save(make_split(export, "warm", 0), tmp_path, export)
    frame = pd.read_csv(tmp_path / "test.csv", dtype=str)
    frame.loc[0, "item_id"] = "no-such-item"
    frame.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(KgrecError, match="not in the catalog"):
        load(tmp_path, export)


def test_load_rejects_interactions_not_in_catalog(export, tmp_path):
    save(make_split(export, "warm", 0), tmp_path, export)
    frame = pd.read_csv(tmp_path / "test.csv", dtype=str)
    user = int(frame.loc[0, "user_id"][1:])
    seen = as_set(interactions(export))
    frame.loc[0, "item_id"] = next(f"i{i:03d}" for i in range(40) if (user, i) not in seen)
    frame.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(KgrecError, match="interaction"):
        load(tmp_path, export)


def test_load_without_manifest_is_a_user_error(export, tmp_path):
    with pytest.raises(KgrecError, match="no split"):
        load(tmp_path, export)


def test_unknown_protocol(export):
    with pytest.raises(KgrecError, match="unknown protocol"):
        make_split(export, "lukewarm", 0)
