"""Training the fusion model: seeded, early-stopped on validation NDCG@20, with a curve.

One epoch visits every training interaction once, in batches of ``settings.batch_size``
positives (more where an epoch would otherwise have more than
``settings.max_steps_per_epoch`` steps, so that its cost grows linearly with the data).
Each step:

1. simulates arrivals (see :class:`~kgrec.gnn.model.KGRecConfig`): a random share of the warm
   items becomes cold — ID embedding hidden *and* interaction edges removed, so their
   embeddings come from text and knowledge-graph edges only, as a new item's will; a
   random share of users becomes new — ID hidden and all but a few interaction edges
   removed, as a user who has just told us a few likes; random users and entities lose
   their ID embedding;
2. propagates over the whole graph or over a neighbourhood sampled around the batch with
   PyG's :class:`~torch_geometric.loader.LinkNeighborLoader`, whichever a timed probe
   finds faster (:func:`_choose_step`; sampling always past
   ``settings.full_graph_max_edges`` edges);
3. scores each positive against uniformly sampled negative items (warm items only: a
   cold item sampled as a negative would teach the model that text without history is
   bad) with the BPR or the sampled-softmax loss, plus L2 on the batch's layer-0 inputs.

Why sampled softmax by default, not BPR: on ml-100k (warm split, seed 0, lr 0.01, batch
8192) validation NDCG@20 reached 0.222 with softmax over 16 negatives per positive,
0.211 with BPR averaged over 16 negatives and 0.204 with BPR over one; test Recall@20 /
NDCG@20 were 0.350 / 0.409 against 0.335 / 0.394 for BPR-16. Many negatives per
positive give each step a much richer gradient for the same one propagation, which is
what a step costs here. Sharing 512 negatives across the batch was worse (0.204).

After every ``settings.eval_every`` epochs it ranks all items for the validation users
(their training items masked) and keeps the weights with the best NDCG@20; it stops after
``settings.patience`` evaluations without improvement.

Under torchrun (``train --distributed``) the same loop runs on every rank, data-parallel:
each rank takes its shard of the epoch, DDP averages the gradients, rank 0 validates and
broadcasts the result (see :mod:`kgrec.gnn.distributed`).

Repeatable: :func:`kgrec.gnn.runtime.seed_everything` seeds Python, NumPy and torch (CPU and CUDA) and asks
torch for deterministic algorithms (``warn_only``: a CUDA kernel without a deterministic
version warns instead of failing). On CUDA the dense work runs under ``torch.autocast``
(bfloat16 where supported, else float16 with a ``GradScaler``); propagation stays float32.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from kgrec.gnn import distributed
from kgrec.gnn.curve import EpochRecord, TrainingCurve
from kgrec.gnn.early_stopping import EarlyStopping
from kgrec.gnn.graph_tensors import PropagationGraph
from kgrec.gnn.losses import check_loss, l2_penalty, ranking_loss, shared_hits, squared_norms
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.model import KGRecConfig, KGRecModel, NodeInputs, adjacency_matrix
from kgrec.gnn.pairs import sample_users
from kgrec.gnn.recommender import TrainSettings
from kgrec.gnn.runtime import adam, keep_freed_memory
from kgrec.gnn.sampling import LinkSampler
from kgrec.kg.errors import KgrecError

log = logging.getLogger(__name__)

PROBE_MIN_EDGES = 2_000_000
"""Directed edges from which both training modes are timed before training (ml-1m has
1.9M; below this a full-graph step takes well under a second on two CPU cores)."""


@dataclass
class TrainProblem:
    """What the loop trains on, already on the device.

    ``train`` ``(2, E)``: (user, item) positives; ``valid`` ``(2, V)`` (NumPy, used by the
    evaluator); ``warm_items`` ``(I,)`` bool: items with training interactions (the only
    ones sampled as negatives or made cold)."""

    graph: PropagationGraph
    nodes: NodeInputs
    train: Tensor
    valid: np.ndarray
    warm_items: Tensor


def train_model(
    model: KGRecModel,
    problem: TrainProblem,
    settings: TrainSettings,
    config: KGRecConfig,
    progress: bool = True,
) -> TrainingCurve:
    """Train ``model`` in place (it ends holding the best validation weights)."""
    check_loss(config.loss)
    problem = replace(problem, valid=sample_users(problem.valid, settings.valid_users, settings.seed))
    device = problem.train.device
    if problem.train.size(1) == 0:
        raise KgrecError("there are no training interactions to learn from")
    batch_size = max(settings.batch_size, math.ceil(problem.train.size(1) / settings.max_steps_per_epoch))
    optimizer = adam(model.parameters(), settings.lr)
    amp_dtype = _amp_dtype(device, settings)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    world = distributed.current()
    candidates = torch.nonzero(problem.warm_items).flatten()
    step, mode = _choose_step(model, problem, settings, config, batch_size, candidates, probe=world is None)
    if device.type == "cpu":  # after the probe: a sampled step's tables would stay in the heap
        keep_freed_memory()
    curve = TrainingCurve(mode=mode, device=str(device), batch_size=batch_size)
    if world is not None:  # one rank of several: see gnn.distributed
        step = distributed.wrap(step, device)
        torch.manual_seed(settings.seed + world.rank)
        progress = progress and world.is_main
    stopper = EarlyStopping(model, settings.patience)
    started = time.perf_counter()
    bar = tqdm(range(1, settings.epochs + 1), desc=f"training ({curve.mode}, {device.type})", disable=not progress,
               unit="epoch", mininterval=1.0)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        n = problem.train.size(1)
        batches = (_batches(n, batch_size, device) if world is None
                   else distributed.shard_batches(n, batch_size, epoch, settings.seed, world, device))
        for batch in batches:
            positives = problem.train[:, batch]
            negatives = _negatives(candidates, positives.size(1), config)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                loss = step(positives, negatives, settings.weight_decay)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            total += float(loss.detach()) * batch.numel()
            count += batch.numel()
        loss_mean = total / max(count, 1) if world is None else distributed.mean_across(total, count, device)
        record = EpochRecord(epoch=epoch, loss=loss_mean, seconds=time.perf_counter() - t0)
        if not math.isfinite(record.loss):
            raise KgrecError(f"training diverged at epoch {epoch} (loss {record.loss}): lower the learning rate")
        if epoch % settings.eval_every == 0 or epoch == settings.epochs:
            metrics = validation_metrics(model, problem) if world is None or world.is_main else None
            if world is not None:  # rank 0's figures on every rank: all stop at the same epoch
                metrics = distributed.broadcast_metrics(metrics, ("ndcg@20", "recall@20"), device)
            record.valid_ndcg, record.valid_recall = metrics["ndcg@20"], metrics["recall@20"]
            if stopper.update(epoch, record.valid_ndcg):
                curve.best_ndcg, curve.best_epoch = stopper.best, stopper.best_epoch
            bar.set_postfix(loss=f"{record.loss:.4f}", ndcg=f"{record.valid_ndcg:.4f}", best=f"{curve.best_ndcg:.4f}")
        curve.records.append(record)
        if stopper.should_stop:
            curve.stopped_early = True
            break
    bar.close()
    stopper.restore()
    if world is not None:
        distributed.broadcast_module(model)
    curve.seconds = time.perf_counter() - started
    log.info("trained %d epochs in %.1f s; best validation NDCG@20 %.4f at epoch %d",
             len(curve.records), curve.seconds, curve.best_ndcg, curve.best_epoch)
    return curve


@torch.no_grad()
def final_embeddings(model: KGRecModel, graph: PropagationGraph, nodes: NodeInputs) -> tuple[Tensor, Tensor]:
    """All layers ``(L + 1, N, d)`` and final embeddings ``(N, d)`` over the whole graph,
    no dropout."""
    model.eval()
    layers = torch.stack(model(graph, nodes))
    return layers, layers.mean(0)


@torch.no_grad()
def validation_metrics(model: KGRecModel, problem: TrainProblem, k: int = 20) -> dict[str, float]:
    """Recall@k and NDCG@k over the validation pairs, training items masked, all items ranked."""
    if problem.valid.size == 0:
        return {f"recall@{k}": 0.0, f"ndcg@{k}": 0.0, "users": 0}
    _, z = final_embeddings(model, problem.graph, problem.nodes)
    space = problem.graph.space
    users, items = z[: space.n_users], z[space.items()]

    def score_batch(batch: Tensor) -> Tensor:
        return (users[batch.to(users.device)] @ items.T).float().cpu()

    return full_ranking(score_batch, problem.valid, problem.train.cpu().numpy(), k=k)


class _FullGraphStep(nn.Module):
    """One loss evaluation with propagation over the whole (arrival-simulated) graph."""

    def __init__(self, model: KGRecModel, problem: TrainProblem, config: KGRecConfig) -> None:
        super().__init__()
        self.model, self.problem, self.config = model, problem, config
        graph = problem.graph
        space = graph.space
        src, dst = graph.edge_index
        # Per edge: is it an interaction, and its item and user (0 for other edges).
        self.is_interaction = graph.edge_item >= 0
        self.edge_item = graph.edge_item.clamp(min=0)
        self.edge_user = torch.where(self.is_interaction, torch.minimum(src, dst), 0)
        # Both directions of an edge share one id, so that a random choice drops both.
        pair = torch.minimum(src, dst) * space.num_nodes + torch.maximum(src, dst)
        self.n_pairs = int(pair.numel() // 2)
        self.edge_pair = torch.unique(pair, return_inverse=True)[1]
        self.adjacency = adjacency_matrix(graph)

    def forward(self, positives: Tensor, negatives: Tensor, weight_decay: float) -> Tensor:
        graph, config = self.problem.graph, self.config
        space = graph.space
        device = graph.edge_index.device
        keep = _id_keep(space.n_users, space.n_items, space.n_entities, self.problem.warm_items, config, device)
        adjacency = self.adjacency
        dropped = torch.zeros(graph.num_edges, dtype=torch.bool, device=device)
        # index_select, not [] indexing: several times faster for these edge-long gathers.
        if config.cold_item_rate > 0:
            cold_item = ~keep[space.items()]
            dropped |= cold_item.index_select(0, self.edge_item)
        if config.new_user_rate > 0:
            new_user = torch.rand(space.n_users, device=device) < config.new_user_rate
            keep[: space.n_users] &= ~new_user
            hidden = (torch.rand(self.n_pairs, device=device) >= config.new_user_keep).index_select(0, self.edge_pair)
            dropped |= new_user.index_select(0, self.edge_user) & hidden
        if config.cold_item_rate > 0 or config.new_user_rate > 0:
            adjacency = graph.masked_adjacency(~(dropped & self.is_interaction))
        x0 = self.model.inputs(space, self.problem.nodes, keep)
        # One split of each whole table, then the batch's rows: each split's gradient is
        # one (N, d) table, where a slice or a gather per use would fill one each.
        parts = [space.n_users, space.n_items, space.n_entities]
        z_users, z_items, _ = self.model.embed(x0, adjacency).split(parts)
        x0_users, x0_items, _ = x0.split(parts)
        users, items = positives
        loss = ranking_loss(z_users[users], z_items[items], z_items, negatives, config.loss, config.temperature,
                            shared_hits(items, negatives))
        return loss + l2_penalty(x0_users[users], x0_items[items], squared_norms(x0_items)[negatives], weight_decay)


class _SampledStep(nn.Module):
    """One loss evaluation over a neighbourhood sampled around the batch.

    The batch's seed pairs go to a :class:`LinkNeighborLoader` as one block of positives
    followed by its block of negatives; the sampled edges keep the whole graph's
    normalisation, rescaled by ``degree / sampled in-edges`` so that each node's sum is an
    unbiased estimate of the full one."""

    def __init__(self, model: KGRecModel, problem: TrainProblem, settings: TrainSettings, config: KGRecConfig) -> None:
        super().__init__()
        self.model, self.problem, self.config = model, problem, config
        self.fanout = [settings.num_neighbors] * model.layers
        graph = problem.graph
        self.sampler = LinkSampler(graph.edge_index, graph.space.num_nodes, self.fanout)

    def forward(self, positives: Tensor, negatives: Tensor, weight_decay: float) -> Tensor:
        graph, config, model = self.problem.graph, self.config, self.model
        space = graph.space
        device = positives.device
        b = positives.size(1)
        users = positives[0]
        flat = negatives.reshape(-1)
        # Each negative travels with some user of the batch: only its neighbourhood matters.
        partner = users.repeat_interleave(negatives.size(1)) if negatives.dim() == 2 else users[
            torch.randint(b, (flat.numel(),), device=device)]
        seeds = torch.cat([
            torch.stack([users, positives[1] + space.item_offset]),
            torch.stack([partner, flat + space.item_offset]),
        ], dim=1).cpu()
        batch = self.sampler.sample(seeds)
        n_id, e_id = batch.n_id.to(device), batch.e_id.to(device)
        edge_index = batch.edge_index.to(device)
        label = batch.edge_label_index.to(device)
        keep_all = _id_keep(space.n_users, space.n_items, space.n_entities, self.problem.warm_items, config, device)
        keep = keep_all[n_id]
        edge_keep = torch.ones(e_id.numel(), dtype=torch.bool, device=device)
        if config.cold_item_rate > 0:
            cold_item = ~keep_all[space.items()]
            item = graph.edge_item[e_id]
            edge_keep = ~((item >= 0) & cold_item[item.clamp(min=0)])
        edge_index, e_id = edge_index[:, edge_keep], e_id[edge_keep]
        sampled_in = torch.bincount(edge_index[1], minlength=n_id.numel()).clamp(min=1).float()
        weight = graph.edge_weight[e_id] * graph.degree[n_id[edge_index[1]]] / sampled_in[edge_index[1]]
        x0 = model.inputs(space, self.problem.nodes, keep, index=n_id)
        layers = model.propagate(x0, edge_index=edge_index, edge_weight=weight)
        z = model.combine(layers)
        u, i = label[0, :b], label[1, :b]
        j = label[1, b:].view(negatives.shape)
        loss = ranking_loss(z[u], z[i], z, j, config.loss, config.temperature, shared_hits(positives[1], negatives))
        return loss + l2_penalty(layers[0][u], layers[0][i], squared_norms(layers[0])[j], weight_decay)


def _choose_step(model: KGRecModel, problem: TrainProblem, settings: TrainSettings, config: KGRecConfig,
                 batch_size: int, candidates: Tensor, probe: bool) -> tuple[nn.Module, str]:
    """The step to train with and its mode's name.

    Past ``settings.full_graph_max_edges`` the whole graph is not attempted (its tensors
    would not fit the memory budget): neighbour sampling. From :data:`PROBE_MIN_EDGES`
    up, both steps are timed on one batch (:func:`_seconds_per_step`) and the faster
    one trains; below that the whole graph is cheap. A sampled neighbourhood is only
    smaller than the whole graph when a batch's seeds reach little of it: with many
    negatives per positive and a few hops it soon covers every node, and then sampling
    is the slower mode. Ranks of a distributed run do not probe (they must agree)."""
    if problem.graph.num_edges > settings.full_graph_max_edges:
        return _SampledStep(model, problem, settings, config), "neighbour-sampling"
    full = _FullGraphStep(model, problem, config)
    if not probe or problem.graph.num_edges < PROBE_MIN_EDGES:
        return full, "full-graph"
    sampled = _SampledStep(model, problem, settings, config)
    seconds = {name: _seconds_per_step(step, problem, batch_size, candidates, config, settings.weight_decay)
               for name, step in (("full-graph", full), ("neighbour-sampling", sampled))}
    mode = min(seconds, key=seconds.__getitem__)
    log.info("a step takes %.2f s over the whole graph, %.2f s over sampled neighbourhoods: training with %s",
             seconds["full-graph"], seconds["neighbour-sampling"], mode)
    return (full if mode == "full-graph" else sampled), mode


def _seconds_per_step(step: nn.Module, problem: TrainProblem, batch_size: int, candidates: Tensor,
                      config: KGRecConfig, weight_decay: float, repeats: int = 2) -> float:
    """The fastest of ``repeats`` timed steps (forward and backward, after one untimed),
    on random batches drawn under a forked RNG and with the gradients discarded, so that
    probing changes neither the training nor its random stream."""
    devices = [problem.train.device] if problem.train.device.type == "cuda" else []
    best = math.inf
    with torch.random.fork_rng(devices=devices):
        for attempt in range(repeats + 1):
            batch = torch.randint(problem.train.size(1), (min(batch_size, problem.train.size(1)),),
                                  device=problem.train.device)
            positives = problem.train[:, batch]
            negatives = _negatives(candidates, positives.size(1), config)
            started = time.perf_counter()
            step(positives, negatives, weight_decay).backward()
            if problem.train.device.type == "cuda":
                torch.cuda.synchronize(problem.train.device)
            if attempt:
                best = min(best, time.perf_counter() - started)
    step.zero_grad(set_to_none=True)
    return best


def _id_keep(n_users: int, n_items: int, n_entities: int, warm_items: Tensor, config: KGRecConfig,
             device: torch.device) -> Tensor:
    """``(N,)`` bool: which nodes keep their ID embedding this step."""
    keep_users = torch.rand(n_users, device=device) >= config.user_id_dropout
    keep_items = ~((torch.rand(n_items, device=device) < config.cold_item_rate) & warm_items)
    keep_entities = torch.rand(n_entities, device=device) >= config.entity_id_dropout
    return torch.cat([keep_users, keep_items, keep_entities])


def _batches(n: int, batch_size: int, device: torch.device):
    order = torch.randperm(n, device="cpu").to(device)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _negatives(candidates: Tensor, b: int, config: KGRecConfig) -> Tensor:
    """Item indices drawn uniformly from ``candidates``: ``(b, K)``, or ``(K,)`` shared by
    the batch."""
    k = max(config.negatives, 1)
    shape = (k,) if config.shared_negatives else (b, k)
    return candidates[torch.randint(candidates.numel(), shape, device=candidates.device)]


def _amp_dtype(device: torch.device, settings: TrainSettings) -> torch.dtype | None:
    if device.type != "cuda" or not settings.amp:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
