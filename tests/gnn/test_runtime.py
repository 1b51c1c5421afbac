import random

import numpy as np
import torch

from kgrec.gnn.runtime import seed_everything


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_the_same_seed_gives_the_same_draws_in_python_numpy_and_torch() -> None:
    seed_everything(7, deterministic=False)
    first = draws()
    seed_everything(7, deterministic=False)
    assert draws() == first
    seed_everything(8, deterministic=False)
    assert draws() != first
