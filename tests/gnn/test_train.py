"""The training loop: the loss goes down, runs repeat, the curve is saved, the
neighbour-sampling path trains. Tiny graphs from tests/gnn/test_model.py."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_model import A_ITEMS, B_ITEMS, SMALL, tiny_data

from kgrec.gnn.curve import TrainingCurve
from kgrec.gnn.inference import KGRec
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.model import KGRecConfig
from kgrec.gnn.recommender import UserQuery
from kgrec.kg.errors import KgrecError

QUICK = replace(SMALL, epochs=25, patience=25)


def _fit(settings=QUICK, config: KGRecConfig | None = None) -> KGRec:
    rec = KGRec(config or KGRecConfig(), progress=False)
    rec.fit(tiny_data(), settings)
    return rec


def test_loss_decreases() -> None:
    rec = _fit()
    curve = rec.curve
    assert curve is not None and len(curve.records) == QUICK.epochs
    first, last = curve.records[0], curve.records[-1]
    assert last.loss < 0.8 * first.loss
    assert curve.best_ndcg >= curve.records[0].valid_ndcg  # type: ignore[operator]
    assert all(r.seconds >= 0 for r in curve.records)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, b = _fit(), _fit()
    c = _fit(replace(QUICK, seed=1))
    assert a.model is not None and b.model is not None and c.model is not None
    for (name, wa), wb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.model.item_emb.weight, c.model.item_emb.weight)
    assert a.curve is not None and b.curve is not None
    assert [r.loss for r in a.curve.records] == [r.loss for r in b.curve.records]


def test_early_stopping_keeps_the_best_epoch() -> None:
    rec = _fit(replace(QUICK, epochs=200, patience=3, lr=0.2))
    curve = rec.curve
    assert curve is not None and curve.stopped_early
    assert len(curve.records) < 200
    evaluated = [r.valid_ndcg for r in curve.records if r.valid_ndcg is not None]
    assert curve.best_ndcg == max(evaluated)  # type: ignore[type-var]
    assert len(curve.records) - curve.best_epoch == 3


def test_the_returned_model_holds_the_best_epochs_weights() -> None:
    data = tiny_data()
    rec = KGRec(progress=False)
    rec.fit(data, replace(QUICK, epochs=200, patience=3, lr=0.2))
    curve = rec.curve
    assert curve is not None and curve.stopped_early
    last = curve.records[-1].valid_ndcg
    assert last is not None and last < curve.best_ndcg, "the last epoch is worse than the best one"
    # Validation ranks by the GNN's own scores (the blend with the item-item component is
    # fitted after training), so the check does too.
    items = rec.item_embeddings()
    again = full_ranking(lambda users: rec.user_embeddings([UserQuery(user=int(u)) for u in users]) @ items.T,
                         data.valid, data.train)
    assert again["ndcg@20"] == pytest.approx(curve.best_ndcg, abs=1e-6)


def test_training_curve_is_saved_as_json_and_png(tmp_path: Path) -> None:
    rec = _fit(replace(QUICK, epochs=4, eval_every=2))
    assert rec.curve is not None
    json_path, png_path = rec.curve.save(tmp_path)
    raw = json.loads(json_path.read_text())
    assert [r["epoch"] for r in raw["records"]] == [1, 2, 3, 4]
    assert raw["records"][0]["valid_ndcg"] is None and raw["records"][1]["valid_ndcg"] is not None
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert TrainingCurve.from_dict(raw).best_epoch == rec.curve.best_epoch


def test_without_id_dropout_the_model_still_trains() -> None:
    rec = _fit(config=KGRecConfig(cold_item_rate=0.0, user_id_dropout=0.0, entity_id_dropout=0.0))
    assert rec.curve is not None and rec.curve.records[-1].loss < rec.curve.records[0].loss


def test_new_user_simulation_trains_and_keeps_the_graph_symmetric(monkeypatch: pytest.MonkeyPatch) -> None:
    from kgrec.gnn.graph_tensors import PropagationGraph

    seen: list[torch.Tensor] = []
    original = PropagationGraph.masked_adjacency

    def spy(self: PropagationGraph, keep: torch.Tensor) -> torch.Tensor:
        seen.append(self.edge_index[:, keep])
        return original(self, keep)

    monkeypatch.setattr(PropagationGraph, "masked_adjacency", spy)
    rec = _fit(config=KGRecConfig(new_user_rate=0.5, new_user_keep=0.3))
    assert rec.curve is not None and rec.curve.records[-1].loss < rec.curve.records[0].loss
    assert seen, "the arrival simulation renormalises the graph of its kept edges each step"
    for edge_index in seen[:5]:
        edges = set(zip(edge_index[0].tolist(), edge_index[1].tolist()))
        assert all((d, s) in edges for s, d in edges)


def test_softmax_loss_trains() -> None:
    for shared in (False, True):
        rec = _fit(config=KGRecConfig(loss="softmax", negatives=4, temperature=0.5, shared_negatives=shared))
        assert rec.curve is not None and rec.curve.records[-1].loss < rec.curve.records[0].loss
    with pytest.raises(KgrecError, match="unknown loss"):
        _fit(config=KGRecConfig(loss="hinge"))


def test_neighbour_sampling_path_trains_and_scores() -> None:
    settings = replace(QUICK, full_graph_max_edges=0, num_neighbors=3)
    rec = _fit(settings)
    curve = rec.curve
    assert curve is not None and curve.mode == "neighbour-sampling"
    assert curve.records[-1].loss < curve.records[0].loss
    scores = rec.score([UserQuery(user=u) for u in range(12)])
    assert torch.isfinite(scores).all()
    a, b = list(A_ITEMS), list(B_ITEMS)
    assert scores[:6, a].mean() > scores[:6, b].mean() and scores[6:, b].mean() > scores[6:, a].mean()


def test_an_epoch_has_at_most_max_steps_and_validation_samples_users(monkeypatch: pytest.MonkeyPatch) -> None:
    import kgrec.gnn.train as train

    sizes: list[int] = []
    validated: list[int] = []
    batches, metrics = train._batches, train.validation_metrics

    def spy_batches(n, batch_size, device):
        sizes.append(batch_size)
        return batches(n, batch_size, device)

    def spy_metrics(model, problem):
        validated.append(len(set(problem.valid[0].tolist())))
        return metrics(model, problem)

    monkeypatch.setattr(train, "_batches", spy_batches)
    monkeypatch.setattr(train, "validation_metrics", spy_metrics)
    data = tiny_data()
    rec = KGRec(progress=False)
    rec.fit(data, replace(QUICK, epochs=2, batch_size=4, max_steps_per_epoch=3, valid_users=5))
    n = data.train.shape[1]
    assert rec.curve is not None and rec.curve.batch_size == sizes[0] == -(-n // 3) > 4
    assert TrainingCurve.from_dict(rec.curve.to_dict()).batch_size == rec.curve.batch_size
    assert len(set(data.valid[0].tolist())) > 5 and validated and all(v == 5 for v in validated)


def test_the_faster_mode_is_measured_and_probing_leaves_training_unchanged(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import kgrec.gnn.train as train

    settings = replace(QUICK, epochs=3, num_neighbors=3)
    unprobed = {"full-graph": _fit(settings), "neighbour-sampling": _fit(replace(settings, full_graph_max_edges=0))}
    monkeypatch.setattr(train, "PROBE_MIN_EDGES", 0)
    with caplog.at_level("INFO", logger="kgrec.gnn.train"):
        probed = _fit(settings)
    assert "over sampled neighbourhoods: training with" in caplog.text
    assert probed.curve is not None
    same_mode = unprobed[probed.curve.mode].curve
    assert same_mode is not None
    # The probe's steps drew from a forked RNG and left no gradient behind.
    assert [r.loss for r in probed.curve.records] == [r.loss for r in same_mode.records]
