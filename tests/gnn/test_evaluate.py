"""The evaluation harness: every recommender, same split, every condition."""
import json
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from eval_fixtures import random_export
from kgrec.gnn.baselines import MostPopular, TextKNN
from kgrec.gnn.evaluate import conditions_for, evaluate, rank, training_export
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.splits import interactions, make_split
from kgrec.kg.identifiers import INTERACTIONS
from kgrec.kg.errors import KgrecError


@pytest.fixture(scope="module")
def export():
    return random_export(n_users=40, n_items=30, per_user=10)


@pytest.fixture(scope="module")
def text():
    rng = np.random.default_rng(0)
    return {"Item": rng.normal(size=(30, 8)).astype(np.float32), "Entity": rng.normal(size=(2, 8)).astype(np.float32)}


class Oracle(Recommender):
    """Knows every interaction of the full graph (it is handed it in the constructor), so
    its test scores are perfect; also records what it was given."""

    name = "oracle"
    seen: list = []

    def __init__(self, full_pairs):
        self.full = full_pairs

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        Oracle.seen.append((data, settings))
        self.n_items = data.n_items

    def score(self, queries: Sequence[UserQuery]) -> torch.Tensor:
        out = torch.zeros(len(queries), self.n_items)
        for row, q in enumerate(queries):
            if q.user is not None:
                out[row, self.full[1][self.full[0] == q.user]] = 1.0
        return out


def test_warm_table_and_json(export, text, tmp_path):
    result = evaluate("warm", export, text, [MostPopular, TextKNN], seeds=(0, 1), changes={"epochs": 1})
    rows = result.summary()
    assert [(r["recommender"], r["condition"]) for r in rows] == [("most-popular", "warm"), ("text-knn", "warm")]
    assert all(r["seeds"] == 2 and 0 <= r["recall@20_mean"] <= 1 for r in rows)
    table = result.table()
    assert "most-popular" in table and "Recall@20" in table and "±" in table
    result.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["protocol"] == "warm" and len(data["runs"]) == 4 and data["seeds"] == [0, 1]


class TunedOracle(Oracle):
    """An oracle with defaults of its own, as KGRec and LightGCN have."""

    name = "tuned-oracle"

    @classmethod
    def default_settings(cls) -> TrainSettings:
        return TrainSettings(lr=0.5, batch_size=77)


def test_the_json_records_the_settings_each_recommender_trained_with(export, text, tmp_path):
    Oracle.seen = []
    full = interactions(export)
    result = evaluate("warm", export, text, [lambda: Oracle(full), lambda: TunedOracle(full)], seeds=(0,),
                      changes={"epochs": 3})
    assert [s.lr for _, s in Oracle.seen] == [TrainSettings.lr, 0.5]
    result.write_json(tmp_path / "r.json")
    recorded = json.loads((tmp_path / "r.json").read_text())["settings"]
    assert recorded["oracle"]["lr"] == TrainSettings.lr and recorded["oracle"]["batch_size"] == TrainSettings.batch_size
    assert recorded["tuned-oracle"]["lr"] == 0.5 and recorded["tuned-oracle"]["batch_size"] == 77
    assert recorded["oracle"]["epochs"] == recorded["tuned-oracle"]["epochs"] == 3


def test_kgrec_and_lightgcn_defaults():
    from kgrec.gnn.baselines import LightGCNBaseline
    from kgrec.gnn.inference import KGRec

    assert (KGRec.default_settings().lr, KGRec.default_settings().batch_size) == (0.01, 8192)
    assert (LightGCNBaseline.default_settings().lr, LightGCNBaseline.default_settings().batch_size) == (0.02, 8192)


def test_each_seed_gets_a_fresh_recommender_and_its_seed(export, text):
    Oracle.seen = []
    full = interactions(export)
    evaluate("warm", export, text, [lambda: Oracle(full)], seeds=(3, 5))
    assert [s.seed for _, s in Oracle.seen] == [3, 5]


def test_recommenders_see_only_training_interactions(export, text):
    Oracle.seen = []
    full = interactions(export)
    result = evaluate("warm", export, text, [lambda: Oracle(full)], seeds=(0,))
    data, _ = Oracle.seen[0]
    split = make_split(export, "warm", 0)
    assert data.export.edges[INTERACTIONS].shape[0] == split.train.shape[1]
    assert np.array_equal(data.train, split.train)
    # the oracle scores every held-out item 1: recall is perfect when it fits in K
    assert result.summary()[0]["recall@20_mean"] == pytest.approx(1.0)


def test_cold_item_conditions(export, text):
    result = evaluate("cold-item", export, text, [MostPopular], seeds=(0,), k=5)
    conditions = [r["condition"] for r in result.summary()]
    assert conditions == ["cold-item/among-cold", "cold-item/among-all"]
    among_cold, among_all = result.summary()
    assert among_all["recall@5_mean"] == 0.0  # cold items have no popularity: never in the top 5 of all
    assert among_cold["recall@5_mean"] > 0.0


def test_cold_item_among_cold_ranks_only_cold_items(export):
    split = make_split(export, "cold-item", 0)
    (condition,) = conditions_for(split, export)

    class WarmFirst(Recommender):
        name = "warm-first"

        def fit(self, data, settings):
            pass

        def score(self, queries):
            s = torch.zeros(len(queries), 30)
            s[:, split.cold_items] = -1.0  # every warm item above every cold one
            return s

    out = rank(WarmFirst(), condition, k=20)
    # among the cold items only, the warm items cannot take the top places
    assert out["cold-item/among-cold"]["recall@20"] == pytest.approx(1.0)
    assert out["cold-item/among-all"]["recall@20"] < 1.0


def test_cold_user_reveals_earliest_items_and_masks_them(export, text):
    split = make_split(export, "cold-user", 0)
    conditions = conditions_for(split, export)
    assert [list(c.candidates) for c in conditions] == [[f"cold-user/reveal-{n}"] for n in (0, 1, 3, 5)]
    for n, condition in zip((0, 1, 3, 5), conditions):
        assert all(q.user is None and len(q.liked) == n for q in condition.queries)
        assert all(q.attributes for q in condition.queries)  # attributes always come along
        truth = set(zip(*condition.truth.tolist()))
        shown = set(zip(*condition.exclude.tolist()))
        assert not (truth & shown)
        assert len(truth) + len(shown) == split.test.shape[1]
    result = evaluate("cold-user", export, text, [MostPopular, TextKNN], seeds=(0,))
    assert len(result.summary()) == 8


def test_split_dir_written_then_reused(export, text, tmp_path):
    first = evaluate("cold-item", export, text, [MostPopular], seeds=(2,), split_dir=tmp_path)
    assert (tmp_path / "cold-item-seed2" / "split.json").is_file()
    (tmp_path / "cold-item-seed2" / "cold_items.csv").write_text("item_id\n" + "\n".join(f"i{i:03d}" for i in range(30)) + "\n")
    # the stored split is read back (a changed file changes the result), not remade
    second = evaluate("cold-item", export, text, [MostPopular], seeds=(2,), split_dir=tmp_path)
    assert first.summary()[0] != second.summary()[0]


def test_missing_item_text_is_a_user_error(export):
    with pytest.raises(KgrecError, match="item text"):
        evaluate("warm", export, {}, [MostPopular])


def test_training_export_keeps_nodes_and_properties(export):
    split = make_split(export, "warm", 0)
    train_export = training_export(export, split.train)
    assert train_export.nodes is export.nodes
    assert set(train_export.edges[INTERACTIONS].columns) == {"src", "dst", "rating", "ts"}
    assert len(train_export.edges[INTERACTIONS]) == split.train.shape[1]


def test_cli_evaluate_prints_table_and_writes_json_and_splits(tmp_path, capsys):
    """``kgrec evaluate`` end to end: a small synthetic catalog in a real embedded store,
    the real text encoder."""
    import argparse

    import kgrec
    from kgrec.app.commands import evaluate as command

    settings = kgrec.settings(home=tmp_path, store="embedded")
    kgrec.ingest(kgrec.synth(tmp_path / "catalog", users=40, items=30, interactions=400), home=tmp_path, store="embedded")
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["evaluate", "--protocol", "cold-user", "--seeds", "0,1", "--json", str(tmp_path / "out.json"), "--split-dir", str(tmp_path / "splits"), "--recommenders", "most-popular,text-knn"]
    )
    assert args.handler(args, settings) == 0
    out = capsys.readouterr().out
    assert "cold-user/reveal-5" in out and "text-knn" in out
    assert json.loads((tmp_path / "out.json").read_text())["seeds"] == [0, 1]
    assert (tmp_path / "splits" / "cold-user-seed1" / "split.json").is_file()

    args = parser.parse_args(["evaluate", "--protocol", "warm", "--recommenders", "nope"])
    with pytest.raises(KgrecError, match="unknown recommender"):
        args.handler(args, settings)
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "--protocol", "warm", "--seeds", "a,b"])


def test_default_recommenders_are_the_baselines_and_the_model():
    from kgrec.gnn.evaluate import default_recommenders

    factories = default_recommenders()
    assert [f.name for f in factories] == ["most-popular", "text-knn", "ease", "lightgcn", "aldi", "kgrec"]
    assert all(issubclass(f, Recommender) for f in factories)


# --- cold-item-text and text-user ------------------------------------------------------------


def export_with_facts():
    """``random_export`` plus a genre per item (Item -> Entity) and a sequel chain (Item -> Item)."""
    import pandas as pd

    from kgrec.kg.graph import GraphExport, RelKey

    base = random_export(n_users=40, n_items=30, per_user=10)
    entities = pd.DataFrame({"id": ["e000", "e001", "g0", "g1", "g2"], "name": ["entity 0", "entity 1", "Drama", "Comedy", "Horror"],
                             "type": ["attribute", "attribute", "genre", "genre", "genre"]})
    edges = dict(base.edges)
    edges[RelKey("HAS_GENRE", "Item", "Entity")] = pd.DataFrame({"src": np.arange(30), "dst": 2 + np.arange(30) % 3})
    edges[RelKey("SEQUEL", "Item", "Item")] = pd.DataFrame({"src": np.arange(29), "dst": np.arange(1, 30)})
    return GraphExport(nodes={**base.nodes, "Entity": entities}, edges=edges)


class Recorder(Recommender):
    """Records what it learns from and each query it is asked; scores cold items first."""

    name = "recorder"
    fits: list = []
    queries: list = []

    def fit(self, data, settings):
        Recorder.fits.append(data)
        self.cold = np.bincount(data.train[1], minlength=data.n_items) == 0

    def score(self, queries):
        Recorder.queries.extend(queries)
        return torch.as_tensor(self.cold, dtype=torch.float32).expand(len(queries), -1).clone()


def fake_embed(texts):
    """A stand-in encoder: a vector per text from its hash (the harness only passes it on)."""
    return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]).astype(np.float32)


def test_cold_item_text_hides_the_held_out_items_facts_from_every_recommender():
    from kgrec.text.sentences import item_sentences

    export = export_with_facts()
    text = {"Item": np.zeros((30, 8), np.float32), "Entity": np.zeros((5, 8), np.float32)}
    Recorder.fits = []
    texts_seen = []
    result = evaluate("cold-item-text", export, text, [Recorder], seeds=(0,), k=5, embed=lambda t: texts_seen.extend(t) or fake_embed(t))
    split = make_split(export, "cold-item-text", 0)
    (data,) = Recorder.fits
    cold = set(split.cold_items.tolist())
    for key, frame in data.export.edges.items():
        if key.type == "INTERACTED":
            assert as_pairs(frame) == as_pairs_array(split.train)  # no test (or validation) interaction
            continue
        for side in ("src", "dst"):
            if getattr(key, side) == "Item":
                assert not cold & set(frame[side].tolist()), f"{key} still touches a held-out item"
    # warm items keep theirs
    assert len(data.export.edges[("HAS_GENRE", "Item", "Entity")]) == 30 - len(cold)
    # the held-out items' text embeddings were made from sentences without their facts
    sentences = item_sentences(data.export)
    assert all("Genres" not in sentences[i] for i in cold) and all("Genres" in sentences[i] for i in set(range(30)) - cold)
    assert np.allclose(data.item_text, fake_embed(sentences))
    rows = {r["condition"]: r for r in result.summary()}
    assert set(rows) == {"cold-item-text/among-cold", "cold-item-text/among-all"}
    assert rows["cold-item-text/among-all"]["cold_share_mean"] == pytest.approx(1.0)  # it ranks cold items first
    assert rows["cold-item-text/among-cold"]["cold_share_mean"] is None


def as_pairs(frame):
    return set(zip(frame["src"].tolist(), frame["dst"].tolist()))


def as_pairs_array(pairs):
    return set(zip(pairs[0].tolist(), pairs[1].tolist()))


def test_text_user_queries_are_words_only_naming_the_revealed_items():
    export = export_with_facts()
    text = {"Item": np.zeros((30, 8), np.float32), "Entity": np.zeros((5, 8), np.float32)}
    split = make_split(export, "text-user", 0)
    sentences = []
    conditions = conditions_for(split, export, lambda t: sentences.extend(t) or fake_embed(t))
    assert [list(c.candidates) for c in conditions] == [[f"text-user/reveal-{n}"] for n in (1, 3, 5)]
    titles = export.nodes["Item"]["title"].tolist()
    genres = ["Drama", "Comedy", "Horror"]
    for n, condition in zip((1, 3, 5), conditions):
        assert all(q.user is None and not q.liked and not q.attributes and q.text is not None for q in condition.queries)
        shown = split.revealed(n)
        truth, masked = as_pairs_array(condition.truth), as_pairs_array(condition.exclude)
        assert not truth & masked and len(truth) + len(masked) == split.test.shape[1]
        batch = sentences[-len(condition.queries):]
        users = np.unique(split.test[0])
        for row, user in enumerate(users):
            items = shown[1, shown[0] == user]
            sentence = batch[row]
            assert all(f"{titles[i]} ({genres[i % 3]})" in sentence for i in items)
            assert "i0" not in sentence and "u0" not in sentence  # no ids
    Recorder.fits = []
    result = evaluate("text-user", export, text, [Recorder, MostPopular, TextKNN], seeds=(0,), embed=fake_embed)
    (data,) = Recorder.fits
    assert not np.isin(data.train[0], split.cold_users).any() and not np.isin(data.valid[0], split.cold_users).any()
    assert len(data.export.edges[INTERACTIONS]) == split.train.shape[1]
    assert len(result.summary()) == 9


def test_text_protocols_need_the_encoder(export, text):
    with pytest.raises(KgrecError, match="text encoder"):
        evaluate("text-user", export, text, [MostPopular])
