"""Readers of a model folder (gnn/readers.py): the model's summary and the latest evaluation."""
from __future__ import annotations

import json
import os
from pathlib import Path

from kgrec.app.ui.actions.model import evaluation_table
from kgrec.gnn.readers import latest_evaluation, read_evaluations, read_model_summary


def _evaluation(folder: Path, name: str, protocol: str, recall: float, modified: float) -> None:
    path = folder / name
    path.write_text(json.dumps({"protocol": protocol, "k": 20, "summary": [{
        "recommender": "kgrec", "condition": protocol, "recall@20_mean": recall, "recall@20_std": 0.01,
        "ndcg@20_mean": 0.4, "ndcg@20_std": 0.02, "seeds": 2}]}))
    os.utime(path, (modified, modified))


def test_the_latest_evaluation_comes_first_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    _evaluation(tmp_path, "evaluation-warm.json", "warm", 0.3, 1_000_000)
    _evaluation(tmp_path, "evaluation-cold.json", "cold-item", 0.1, 2_000_000)
    (tmp_path / "model.json").write_text('{"kind": "kgrec"}')
    (tmp_path / "broken.json").write_text("{not json")
    assert [e.file for e in read_evaluations(tmp_path)] == ["evaluation-cold.json", "evaluation-warm.json"]
    latest = latest_evaluation(tmp_path)
    assert latest is not None and latest.protocol == "cold-item" and latest.rows[0].recall == 0.1
    assert evaluation_table(latest).to_dict("records") == [{
        "protocol": "cold-item", "recommender": "kgrec", "condition": "cold-item", "Recall@K": "0.100 ± 0.010",
        "NDCG@K": "0.400 ± 0.020", "K": 20, "seeds": 2,
    }]


def test_nothing_there_reads_as_nothing(tmp_path: Path) -> None:
    assert latest_evaluation(tmp_path / "missing") is None
    assert evaluation_table(None).empty and "Recall@K" in evaluation_table(None).columns
    assert read_model_summary(tmp_path) is None
    (tmp_path / "model.json").write_text('{"saved_at": "2026-12-01", "model": {"dim": 16}, "train_settings": {"lr": 0.01}}')
    summary = read_model_summary(tmp_path)
    assert summary is not None and summary.shape["dim"] == 16 and summary.settings == {"lr": 0.01}
