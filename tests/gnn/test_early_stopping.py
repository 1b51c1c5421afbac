"""EarlyStopping: counts evaluations without improvement and restores the best weights."""
import torch

from kgrec.gnn.early_stopping import EarlyStopping


def test_stops_after_patience_and_restores_the_best_weights() -> None:
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(model, patience=2)
    snapshots = {}
    for epoch, metric in enumerate([0.1, 0.3, 0.2, 0.25], start=1):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        snapshots[epoch] = model.weight.clone()
        assert stopper.update(epoch, metric) == (epoch in (1, 2))
        if stopper.should_stop:
            break
    assert epoch == 4 and stopper.best_epoch == 2 and stopper.best == 0.3
    stopper.restore()
    assert torch.equal(model.weight, snapshots[2])


def test_restore_without_an_evaluation_leaves_the_model_alone() -> None:
    model = torch.nn.Linear(2, 1)
    before = model.weight.clone()
    EarlyStopping(model, patience=1).restore()
    assert torch.equal(model.weight, before)
