"""Readers of what training and evaluation leave in a model folder, for whoever shows them
(the app's Model tab): the model's summary from ``model.json`` and the evaluation results
that ``kgrec evaluate --json`` wrote there. A missing, unreadable or foreign file reads as
nothing, never as an error: a folder may hold other JSON files."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kgrec.gnn.checkpoint import META


@dataclass(frozen=True)
class ModelSummary:
    """What ``model.json`` says about a saved model."""

    saved_at: str = "?"
    text_model: str = "?"
    shape: Mapping[str, object] = field(default_factory=dict)
    """``dim``, ``layers``, ``n_users``, ``n_items``, ``n_entities``."""
    settings: Mapping[str, object] = field(default_factory=dict)
    """The training settings the model was trained with."""


@dataclass(frozen=True)
class EvaluationRow:
    """One recommender under one condition: mean and std over seeds (None when absent)."""

    recommender: str
    condition: str
    recall: float | None
    recall_std: float | None
    ndcg: float | None
    ndcg_std: float | None
    seeds: int | None


@dataclass(frozen=True)
class Evaluation:
    """One ``kgrec evaluate --json`` result file."""

    file: str
    protocol: str
    k: int
    rows: list[EvaluationRow]
    modified: float
    """The file's modification time (seconds since the epoch): the latest is shown first."""


def read_model_summary(folder: Path) -> ModelSummary | None:
    raw = _read_json(folder / META)
    if not isinstance(raw, dict):
        return None
    return ModelSummary(
        saved_at=str(raw.get("saved_at", "?")),
        text_model=str(raw.get("text_model", "?")),
        shape=raw["model"] if isinstance(raw.get("model"), dict) else {},
        settings=raw["train_settings"] if isinstance(raw.get("train_settings"), dict) else {},
    )


def read_evaluations(folder: Path) -> list[Evaluation]:
    """Every evaluation result in ``folder`` (JSON files with a protocol and a summary),
    the latest first."""
    found = []
    for path in folder.glob("*.json"):
        raw = _read_json(path)
        if not isinstance(raw, dict) or "protocol" not in raw or not isinstance(raw.get("summary"), list):
            continue
        k = int(raw["k"]) if isinstance(raw.get("k"), int) else 20
        rows = [_row(entry, k) for entry in raw["summary"] if isinstance(entry, dict)]
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue
        found.append(Evaluation(path.name, str(raw["protocol"]), k, rows, modified))
    return sorted(found, key=lambda e: (-e.modified, e.file))


def latest_evaluation(folder: Path) -> Evaluation | None:
    found = read_evaluations(folder)
    return found[0] if found else None


def _row(entry: Mapping[str, object], k: int) -> EvaluationRow:
    seeds = entry.get("seeds")
    return EvaluationRow(
        recommender=str(entry.get("recommender", "?")),
        condition=str(entry.get("condition", "")),
        recall=_number(entry.get(f"recall@{k}_mean")),
        recall_std=_number(entry.get(f"recall@{k}_std")),
        ndcg=_number(entry.get(f"ndcg@{k}_mean")),
        ndcg_std=_number(entry.get(f"ndcg@{k}_std")),
        seeds=seeds if isinstance(seeds, int) else None,
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


__all__ = ["Evaluation", "EvaluationRow", "ModelSummary", "latest_evaluation", "read_evaluations", "read_model_summary"]
