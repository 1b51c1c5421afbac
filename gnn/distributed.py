"""Data-parallel training with PyTorch's own engine (``torch.distributed``), started by torchrun.

``torchrun --nproc_per_node=N -m kgrec.app.cli train --distributed`` starts N processes with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment;
:func:`init_from_env` joins them into one process group (gloo on the CPU, NCCL on CUDA,
one GPU per process). From then on :func:`current` tells the training loop it is one
rank of several, and :mod:`kgrec.gnn.train` does four things differently:

- every rank starts from the same weights: the model is built after the same seed on
  every rank, and :class:`~torch.nn.parallel.DistributedDataParallel` broadcasts rank
  0's parameters when it wraps the step; each rank then reseeds its own sampling
  (arrival simulation, negatives) with ``seed + rank`` so the ranks draw different ones;
- each epoch, each rank takes its shard of the training interactions
  (:class:`~torch.utils.data.distributed.DistributedSampler`: one permutation per epoch,
  the same on every rank, padded so every rank takes as many steps) in batches of
  ``batch_size / world_size``, so one step of all ranks together sees ``batch_size``
  interactions, as one process does, and the averaged gradient is the one process's;
- DDP all-reduces (averages) the gradients during the backward pass;
- rank 0 alone computes validation NDCG@20 and :func:`broadcast_metrics` sends it to the
  others, whose early stopping therefore decides the same epoch; at the end rank 0's best
  weights are broadcast (:func:`broadcast_module`), and only rank 0 prints and saves.

Why DDP and not a hand-written all-reduce of the gradients: DDP buckets the gradients and
overlaps their all-reduce with the rest of the backward pass, checks that every rank
reduces the same parameters, and is what torchrun users expect; the training step is a
small :class:`~torch.nn.Module` so that DDP wraps exactly the computation of the loss.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from kgrec.kg.errors import KgrecError

log = logging.getLogger(__name__)

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun puts in each process's environment."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a training run."""

    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that validates, prints and saves."""
        return self.rank == 0


def init_from_env(device: str) -> World:
    """Join the process group torchrun set up (NCCL for a CUDA ``device`` — ``auto`` with
    CUDA present counts — gloo otherwise) and return this process's place in it.

    On CUDA each process takes GPU ``LOCAL_RANK``; :func:`rank_device` says which."""
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise KgrecError(f"--distributed needs to be started by torchrun (missing {', '.join(missing)}): "
                         "torchrun --nproc_per_node=N -m kgrec.app.cli train --distributed")
    cuda = uses_cuda(device)
    world = World(rank=int(os.environ["RANK"]), size=int(os.environ["WORLD_SIZE"]),
                  local_rank=int(os.environ["LOCAL_RANK"]))
    if cuda:
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
    log.info("rank %d of %d joined (%s)", world.rank, world.size, dist.get_backend())
    return world


def uses_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def rank_device(device: str, world: World) -> str:
    """The device this rank trains on: ``cuda:LOCAL_RANK`` on CUDA, ``device`` otherwise."""
    return f"cuda:{world.local_rank}" if uses_cuda(device) else device


def current() -> World | None:
    """This process's place when it is one of several ranks of a process group, else None."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
        return None
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", 0)))


@contextmanager
def main_first(world: World | None) -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks together (e.g. reading the
    store and filling the embedding cache once, which the others then read)."""
    if world is not None and not world.is_main:
        dist.barrier()
    yield
    if world is not None and world.is_main:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (when one was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(step: nn.Module, device: torch.device) -> nn.Module:
    """``step`` under :class:`DistributedDataParallel` (rank 0's weights broadcast now,
    gradients averaged in every backward pass)."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(step, device_ids=ids)


def shard_batches(n: int, batch_size: int, epoch: int, seed: int, world: World, device: torch.device):
    """This rank's batches of one epoch: index tensors into the ``n`` training
    interactions, ``ceil(batch_size / world.size)`` each; every rank yields as many."""
    sampler = DistributedSampler(range(n), num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    order = torch.as_tensor(list(sampler), dtype=torch.long).to(device)
    per_rank = -(-batch_size // world.size)
    for start in range(0, order.numel(), per_rank):
        yield order[start : start + per_rank]


def mean_across(total: float, count: int, device: torch.device) -> float:
    """``sum(total) / sum(count)`` over all ranks (e.g. the epoch's mean loss)."""
    pair = torch.tensor([total, float(count)], dtype=torch.float64, device=device)
    dist.all_reduce(pair)
    return float(pair[0] / pair[1].clamp(min=1))


def broadcast_metrics(metrics: dict[str, float] | None, keys: tuple[str, ...], device: torch.device) -> dict[str, float]:
    """Rank 0's ``metrics`` (``None`` on the other ranks) on every rank."""
    values = torch.zeros(len(keys), dtype=torch.float64, device=device)
    if metrics is not None:
        values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=device)
    dist.broadcast(values, src=0)
    return dict(zip(keys, values.tolist()))


def broadcast_module(module: nn.Module) -> None:
    """Overwrite every rank's parameters and buffers with rank 0's."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)
