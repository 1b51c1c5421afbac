"""One device resolver for training, text embeddings and serving."""
from pathlib import Path

import pytest
import torch

from kgrec.gnn.recommender import TrainSettings
from kgrec.kg.device import check_device, resolve_device
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings
from kgrec.text.encoder import TextEncoder


def test_names_are_checked_without_a_gpu() -> None:
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:12"):
        assert check_device(name) == name
    for name in ("tpu", "cuda:", "cuda:x", "CPU", "", "cpu:0"):
        with pytest.raises(KgrecError, match="unknown device .*auto, cpu, cuda or cuda:N"):
            check_device(name)


def test_resolve() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(KgrecError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:0"):
            with pytest.raises(KgrecError, match="no CUDA GPU"):
                resolve_device(name)
    else:
        assert resolve_device("cuda:0") == torch.device("cuda:0")
        with pytest.raises(KgrecError, match="does not exist"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_settings_check_the_device_once_when_made(tmp_path: Path) -> None:
    with pytest.raises(KgrecError, match="unknown device 'tpu'"):
        Settings.from_env({"KGREC_HOME": str(tmp_path), "KGREC_DEVICE": "tpu"})
    with pytest.raises(KgrecError, match="unknown device 'gpu'"):
        TrainSettings(device="gpu")
    assert TrainSettings(device="cuda:1").device == "cuda:1"


def test_the_text_encoder_takes_the_same_names(tmp_path: Path) -> None:
    settings = Settings.from_env({"KGREC_HOME": str(tmp_path), "KGREC_DEVICE": "cuda:0"})
    assert "cuda:0" in repr(TextEncoder(settings))  # resolved when the model is first loaded
