"""Early stopping on a validation metric, keeping the best evaluation's weights.

Both training loops (the model's, :mod:`kgrec.gnn.train`, and LightGCN's,
:mod:`kgrec.gnn.baselines`) use it the same way::

    stopper = EarlyStopping(model, patience=settings.patience)
    for epoch in ...:
        ...
        stopper.update(epoch, ndcg)
        if stopper.should_stop:
            break
    stopper.restore()          # the model now holds the best evaluation's weights
"""
from __future__ import annotations

import copy
import math

from torch import Tensor, nn


class EarlyStopping:
    """Counts evaluations without improvement (higher is better) and keeps a copy of the
    weights of the best one."""

    def __init__(self, model: nn.Module, patience: int) -> None:
        self.model = model
        self.patience = patience
        self.best = -math.inf
        self.best_epoch = 0
        self.bad_evaluations = 0
        self._best_state: dict[str, Tensor] | None = None

    def update(self, epoch: int, metric: float) -> bool:
        """Record an evaluation; True when it is the best so far (its weights are copied)."""
        if metric > self.best:
            self.best, self.best_epoch, self.bad_evaluations = metric, epoch, 0
            self._best_state = copy.deepcopy(self.model.state_dict())
            return True
        self.bad_evaluations += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_evaluations >= self.patience

    def restore(self) -> None:
        """Load the best evaluation's weights back into the model (nothing to do when
        there was no evaluation)."""
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, best={self.best:.4f} at epoch {self.best_epoch})"
