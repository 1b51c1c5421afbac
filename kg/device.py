"""The one place that reads a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) for
training, text embeddings and serving.

:func:`check_device` checks the name when the settings are made, without importing torch
(the CLI stays fast); :func:`resolve_device` turns it into a ``torch.device`` when work
starts, and says in one sentence when the device is not there.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kgrec.kg.errors import KgrecError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(?::\d+)?")


def check_device(name: str) -> str:
    """``name`` when it is a device name kgrec knows, else a :class:`KgrecError`."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise KgrecError(f"unknown device {name!r}: choose {DEVICE_CHOICES}")
    return name


def resolve_device(name: str) -> torch.device:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` / ``cuda:N`` only
    when that GPU exists."""
    import torch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise KgrecError(f"device {name!r} was asked for but torch sees no CUDA GPU: use --device cpu or auto")
        count = torch.cuda.device_count()
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise KgrecError(f"device {name!r} does not exist: torch sees {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
    return torch.device(name)
