"""The Model tab's actions: the loaded model, its latest evaluation and its training curve."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from kgrec.app.markup import escape, without_paths
from kgrec.app.ui.actions.base import TabActions
from kgrec.gnn.checkpoint import CURVE_PNG
from kgrec.gnn.readers import Evaluation, latest_evaluation, read_model_summary

EVALUATION_COLUMNS = ["protocol", "recommender", "condition", "Recall@K", "NDCG@K", "K", "seeds"]
NO_EVALUATION = "No evaluation of this model has been recorded, so there are no quality figures to show yet."


class ModelActions(TabActions):
    def model_info(self) -> tuple[str, pd.DataFrame, str | None]:
        """A summary of the loaded model, its latest evaluation (a table, empty when there
        is none) and its training curve picture (a path, if any)."""
        folder = Path(self.service.model_dir)
        lines = [f"**Model:** {escape(folder.name)}"]
        summary = read_model_summary(folder)
        if summary is not None:
            shape = summary.shape
            lines.append(f"- saved {escape(summary.saved_at)}; text model {escape(summary.text_model)}")
            lines.append(f"- {shape.get('dim', '?')} dimensions, {shape.get('layers', '?')} layers; trained on "
                         f"{shape.get('n_users', '?')} users, {shape.get('n_items', '?')} items, "
                         f"{shape.get('n_entities', '?')} entities")
            lines.append("- settings: " + escape(without_paths(", ".join(f"{k}={v}" for k, v in summary.settings.items()))))
        curve = getattr(self.service.model, "curve", None)
        if curve is not None and curve.records:
            lines.append(f"- {len(curve.records)} epochs on {curve.device} ({curve.mode}), "
                         f"best validation NDCG@20 {curve.best_ndcg:.4f} at epoch {curve.best_epoch}"
                         + (", stopped early" if curve.stopped_early else ""))
        with self.lock.reading():
            lines.append(f"- serving {len(self.service.item_ids):,} items, {len(self.service.user_index):,} users")
        evaluation = latest_evaluation(folder)
        if evaluation is None:
            lines.append(f"\n{NO_EVALUATION}")
        else:
            when = datetime.fromtimestamp(evaluation.modified, timezone.utc)
            lines.append(f"\n**Latest evaluation:** protocol {escape(evaluation.protocol)}, full ranking, "
                         f"K = {evaluation.k}, recorded {when:%Y-%m-%d %H:%M} UTC.")
        picture = folder / CURVE_PNG
        if not picture.is_file():
            lines.append("\nThis model has no training curve picture.")
        return "\n".join(lines), evaluation_table(evaluation), str(picture) if picture.is_file() else None


def evaluation_table(evaluation: Evaluation | None) -> pd.DataFrame:
    """One row per recommender and condition of an evaluation (no rows for None)."""
    rows = [] if evaluation is None else [
        (evaluation.protocol, r.recommender, r.condition, _mean_std(r.recall, r.recall_std), _mean_std(r.ndcg, r.ndcg_std),
         evaluation.k, r.seeds)
        for r in evaluation.rows
    ]
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS)


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return ""
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


__all__ = ["EVALUATION_COLUMNS", "ModelActions", "evaluation_table"]
