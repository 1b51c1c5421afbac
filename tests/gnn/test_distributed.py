"""Data-parallel training (gnn/distributed.py): ``torchrun --nproc_per_node=2 -m kgrec.app.cli train
--distributed`` on the CPU (gloo) against one process with the same settings, on a small
synthetic catalog ingested into an embedded store."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kgrec.app.cli import main
from kgrec.gnn import distributed
from kgrec.gnn.checkpoint import Checkpoint
from kgrec.kg.datasets.synth import SynthSpec, generate

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--store", "embedded", "--device", "cpu", "--epochs", "20", "--patience", "3", "--batch-size", "512"]
NOISE = 0.03
"""How far apart the two runs' best validation NDCG@20 may be. Measured with these settings
on this catalog, seeds 0-4: one process scored 0.311-0.363 (standard deviation 0.021; the
split moves with the seed too); 2-process DDP differed from one process with the same seed
by -0.007 to +0.011."""


def _kgrec(home: Path, *args: str, torchrun: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KGREC_HOME": str(home), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] if torchrun \
        else [sys.executable]
    done = subprocess.run([*launcher, "-m", "kgrec.app.cli", "--verbose", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KGREC_HOME whose embedded store holds 300 users, 200 items, ~3600 interactions."""
    home = tmp_path_factory.mktemp("distributed")
    generate(SynthSpec(users=300, items=200, interactions=4000), home / "catalog", progress=False)
    _kgrec(home, "ingest", "--catalog", str(home / "catalog"), "--store", "embedded")
    return home


def test_two_gloo_ranks_train_one_checkpoint_as_good_as_one_process(home: Path) -> None:
    _kgrec(home, *TRAIN, "--out", str(home / "models" / "single"))
    done = _kgrec(home, *TRAIN, "--distributed", "--out", str(home / "models" / "ddp"), torchrun=True)
    log = done.stdout + done.stderr

    assert sorted(re.findall(r"rank (\d) of 2 joined \(gloo\)", log)) == ["0", "1"]
    finished = re.findall(r"trained (\d+) epochs in [\d.]+ s; best validation NDCG@20 ([\d.]+) at epoch (\d+)", log)
    assert len(finished) == 2 and finished[0] == finished[1], finished  # both ranks stopped at the same epoch
    assert done.stdout.count("trained in") == 1  # only rank 0 prints
    assert sorted(p.name for p in (home / "models").iterdir()) == ["ddp", "single"]

    ddp, single = Checkpoint.read(home / "models" / "ddp"), Checkpoint.read(home / "models" / "single")
    assert ddp.curve is not None and single.curve is not None
    assert f"{ddp.curve.best_ndcg:.4f}" == finished[0][1] and ddp.curve.best_epoch == int(finished[0][2])
    assert len(ddp.curve.records) == int(finished[0][0])
    assert ddp.curve.best_ndcg > 0.2  # it learned (random ranking scores about 0.1 here)
    assert abs(ddp.curve.best_ndcg - single.curve.best_ndcg) <= NOISE, (ddp.curve.best_ndcg, single.curve.best_ndcg)


def test_shards_cover_the_epoch_once_with_as_many_steps_on_every_rank() -> None:
    n, batch_size = 1001, 100
    shards = [list(distributed.shard_batches(n, batch_size, epoch=3, seed=7, world=distributed.World(r, 2, r),
                                             device=torch.device("cpu"))) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 11  # ceil(501 / 50)
    assert all(b.numel() <= 50 for shard in shards for b in shard)
    seen = torch.cat([b for shard in shards for b in shard])
    assert seen.numel() == 1002 and set(seen.tolist()) == set(range(n))  # one index repeated to even the shards
    other_epoch = distributed.shard_batches(n, batch_size, epoch=4, seed=7, world=distributed.World(0, 2, 0),
                                            device=torch.device("cpu"))
    assert not torch.equal(next(other_epoch), shards[0][0])


def test_distributed_outside_torchrun_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert main(["--home", str(tmp_path), "train", "--distributed", "--store", "embedded"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("kgrec: error: --distributed needs to be started by torchrun") and error.count("\n") == 1
