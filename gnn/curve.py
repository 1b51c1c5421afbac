"""The training curve: loss and validation metrics per epoch, saved as JSON and drawn as a
PNG next to the model (:data:`CURVE_JSON`, :data:`CURVE_PNG`)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

CURVE_JSON = "training_curve.json"
CURVE_PNG = "training_curve.png"


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    seconds: float
    """Wall time of the epoch's training steps."""
    valid_ndcg: float | None = None
    valid_recall: float | None = None


@dataclass
class TrainingCurve:
    """Loss and validation metrics per epoch, and where training stopped."""

    records: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_ndcg: float = float("-inf")
    stopped_early: bool = False
    seconds: float = 0.0
    mode: str = "full-graph"
    device: str = "cpu"
    batch_size: int = 0
    """Positives per step, as trained (see ``TrainSettings.max_steps_per_epoch``)."""

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["best_ndcg"] = None if math.isinf(self.best_ndcg) else self.best_ndcg
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> TrainingCurve:
        records = [EpochRecord(**r) for r in raw.get("records", [])]  # type: ignore[arg-type, union-attr]
        best = raw.get("best_ndcg")
        return cls(
            records=records,
            best_epoch=int(raw.get("best_epoch", 0)),  # type: ignore[arg-type]
            best_ndcg=float("-inf") if best is None else float(best),  # type: ignore[arg-type]
            stopped_early=bool(raw.get("stopped_early", False)),
            seconds=float(raw.get("seconds", 0.0)),  # type: ignore[arg-type]
            mode=str(raw.get("mode", "full-graph")),
            device=str(raw.get("device", "cpu")),
            batch_size=int(raw.get("batch_size", 0)),  # type: ignore[arg-type]
        )

    def save(self, directory: Path | str) -> tuple[Path, Path]:
        """Write ``training_curve.json`` and ``training_curve.png`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / CURVE_JSON
        json_path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        png_path = directory / CURVE_PNG
        plot_curve(self, png_path)
        return json_path, png_path


def plot_curve(curve: TrainingCurve, path: Path) -> None:
    """Training loss and validation NDCG@20 per epoch, best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    epochs = [r.epoch for r in curve.records]
    loss_axis.plot(epochs, [r.loss for r in curve.records], color="tab:blue", label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    evaluated = [r for r in curve.records if r.valid_ndcg is not None]
    if evaluated:
        ndcg_axis = loss_axis.twinx()
        ndcg_axis.plot([r.epoch for r in evaluated], [r.valid_ndcg for r in evaluated], color="tab:orange",
                       marker=".", label="validation NDCG@20")
        ndcg_axis.set_ylabel("validation NDCG@20", color="tab:orange")
        ndcg_axis.axvline(curve.best_epoch, color="gray", linestyle=":", linewidth=1)
    loss_axis.set_title(f"{curve.mode} on {curve.device}: best NDCG@20 "
                        f"{curve.best_ndcg:.4f} at epoch {curve.best_epoch} ({curve.seconds:.0f} s)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
