"""Process set-up for training: seeding and the allocator."""
from __future__ import annotations

import ctypes
import os
import sys

import torch
import torch_geometric


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy and torch (PyG's :func:`torch_geometric.seed_everything`);
    with ``deterministic``, ask torch for deterministic kernels (cuBLAS needs
    ``CUBLAS_WORKSPACE_CONFIG``, set here if unset)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch_geometric.seed_everything(seed % 2**32)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the OS (Linux only).

    Training allocates and frees the same few megabyte-sized tensors every step; by
    default glibc serves blocks that large with fresh ``mmap`` pages and unmaps them on
    free, so every step pays page faults on all of them — on small virtual machines that
    costs more than the arithmetic (a 3 MB ``torch.zeros`` took 5 ms instead of 0.02 ms).
    Raising the mmap and trim thresholds makes freed blocks reusable. The process keeps
    its peak memory for the rest of its life."""
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    _ALLOCATOR_TUNED = True


_ALLOCATOR_TUNED = False
