"""ALDI (Huang et al., "Aligning Distillation for Cold-start Item Recommendation", SIGIR
2023) as a same-run peer for the cold-start protocols, on a LightGCN teacher.

After the authors' TensorFlow code (github.com/zfnWong/ALDI, ``cold_start/ALDI.py`` and
``main.py``; ColdRec's PyTorch port follows it too):

1. The teacher is :class:`kgrec.gnn.baselines.LightGCNBaseline` trained on the training pairs
   (its own learning rate and batch size; epochs, dimension and seed from the settings),
   then frozen: user embeddings ``p_u``, item embeddings ``q_i``. Teacher and students run
   on the CPU (the students are small; ALDI's cost is the teacher).
2. Two students: ``f_I`` maps an item's content (here its text embedding, MiniLM of its
   title and facts; ALDI's are 300-d content vectors) to ``q'_i``, ``f_U`` maps ``p_u`` to
   ``p'_u``; each is Linear → BatchNorm → tanh → Linear (200 hidden units, as ALDI).
3. Per epoch, as many (user, positive, negative) triples as training pairs: a user drawn
   uniformly, one of its training items, a warm item drawn uniformly. With
   ``s = p'_u·q'_i`` and ``t = p_u·q_i`` the loss is the BPR term on the students, plus
   ``alpha`` × ranking alignment ``BCE(s⁺ − s⁻, σ(t⁺ − t⁻))``, ``beta`` × identification
   alignment ``BCE(q'⁺·q'⁺ − mean_j q'⁺·q'_j, σ(same for q))``, ``gamma`` × rating
   alignment ``|t⁺ − s⁺| + |t⁻ − s⁻|``, and an L2 penalty (``weight_decay``) on the student
   weights. ALDI's optional frequency weighting (``--tws``, off by default) is left out.
4. Early stopping on validation NDCG@20 of the pairs on items without training
   interactions ranked among those items (ALDI's cold validation, warm items masked);
   all validation pairs among all items when there is no such pair.

Scores: a warm item (one with training interactions) gets the teacher's ``p_u·q_i``, any
other item the students' ``p'_u·q'_i``, as ALDI ranks. A new user is folded in as the
teacher does (mean of its liked items' ``q``); with nothing liked it gets popularity.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kgrec.gnn.baselines import LightGCNBaseline
from kgrec.gnn.early_stopping import EarlyStopping
from kgrec.gnn.metrics import full_ranking
from kgrec.gnn.recommender import Recommender, TrainData, TrainSettings, UserQuery
from kgrec.gnn.runtime import adam

log = logging.getLogger(__name__)

HIDDEN = 200
"""Student hidden width (ALDI's ``transformed_layers``)."""


class Student(nn.Module):
    """``Linear → BatchNorm → tanh → Linear``, weights ~ truncated N(0, 0.01²) as ALDI's."""

    def __init__(self, n_in: int, n_out: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.Tanh(), nn.Linear(hidden, n_out))
        for layer in (self.net[0], self.net[3]):
            nn.init.trunc_normal_(layer.weight, std=0.01, a=-0.02, b=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@dataclasses.dataclass(frozen=True)
class Weights:
    """The alignment weights, ALDI's defaults (``main.py``)."""

    alpha: float = 0.9
    beta: float = 0.05
    gamma: float = 0.1


def aldi_loss(teacher_user: Tensor, teacher_pos: Tensor, teacher_neg: Tensor,
              student_user: Tensor, student_pos: Tensor, student_neg: Tensor, weights: Weights) -> Tensor:
    """ALDI's loss without the L2 term (module docstring, step 3); ``(B, d)`` inputs."""
    s_pos, s_neg = (student_user * student_pos).sum(1), (student_user * student_neg).sum(1)
    t_pos, t_neg = (teacher_user * teacher_pos).sum(1), (teacher_user * teacher_neg).sum(1)
    supervised = F.binary_cross_entropy_with_logits(s_pos - s_neg, torch.ones_like(s_pos))
    ranking = F.binary_cross_entropy_with_logits(s_pos - s_neg, torch.sigmoid(t_pos - t_neg))
    s_iden = (student_pos * student_pos).sum(1) - (student_pos @ student_neg.T).mean(1)
    t_iden = (teacher_pos * teacher_pos).sum(1) - (teacher_pos @ teacher_neg.T).mean(1)
    identification = F.binary_cross_entropy_with_logits(s_iden, torch.sigmoid(t_iden))
    rating = ((t_pos - s_pos).abs() + (t_neg - s_neg).abs()).mean()
    return supervised + weights.alpha * ranking + weights.beta * identification + weights.gamma * rating


class ALDI(Recommender):
    """ALDI's students on a LightGCN teacher (module docstring)."""

    name = "aldi"

    @classmethod
    def default_settings(cls) -> TrainSettings:
        """ALDI's ``lr=1e-3``, ``batch_size=1024``, ``reg=1e-4``, ``patience=10``."""
        return TrainSettings(lr=1e-3, batch_size=1024, weight_decay=1e-4, patience=10)

    def __init__(self, weights: Weights | None = None) -> None:
        self.weights = weights or Weights()

    def fit(self, data: TrainData, settings: TrainSettings) -> None:
        started = time.perf_counter()
        self.teacher = LightGCNBaseline()
        teacher_settings = dataclasses.replace(LightGCNBaseline.default_settings(), epochs=settings.epochs, dim=settings.dim,
                                               seed=settings.seed, device="cpu", eval_every=settings.eval_every)
        self.teacher.fit(data, teacher_settings)
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        train = np.asarray(data.train, dtype=np.int64).reshape(2, -1)
        self.warm = torch.as_tensor(np.bincount(train[1], minlength=data.n_items)[: data.n_items] > 0)
        self.content = torch.as_tensor(np.asarray(data.item_text, dtype=np.float32))
        user_emb, item_emb = self.teacher.user_emb, self.teacher.item_emb
        self.item_student = Student(self.content.size(1), item_emb.size(1))
        self.user_student = Student(user_emb.size(1), user_emb.size(1))
        students = nn.ModuleList([self.item_student, self.user_student])
        optimizer = adam(students.parameters(), settings.lr)
        valid, candidates = _cold_validation(np.asarray(data.valid, dtype=np.int64).reshape(2, -1), self.warm.numpy())
        stopper = EarlyStopping(students, settings.patience)
        order = np.lexsort((train[1], train[0]))
        by_user, users = train[1, order], np.unique(train[0])
        starts = np.searchsorted(train[0, order], users)
        counts = np.diff(np.r_[starts, train.shape[1]])
        warm_items = np.flatnonzero(self.warm.numpy())
        self.history: list[dict[str, float]] = []
        for epoch in range(1, settings.epochs + 1):
            students.train()
            n = train.shape[1]
            pick = rng.integers(0, len(users), n)
            u = users[pick]
            pos = by_user[starts[pick] + (rng.random(n) * counts[pick]).astype(np.int64)]
            neg = rng.choice(warm_items, n)
            total = 0.0
            for start in range(0, n - settings.batch_size + 1, settings.batch_size):
                batch = slice(start, start + settings.batch_size)
                bu, bp, bn = (torch.as_tensor(a[batch]) for a in (u, pos, neg))
                generated = self.item_student(self.content[torch.cat([bp, bn])])
                loss = aldi_loss(user_emb[bu], item_emb[bp], item_emb[bn], self.user_student(user_emb[bu]),
                                 generated[: len(bp)], generated[len(bp):], self.weights)
                loss = loss + settings.weight_decay / 2 * sum((p * p).sum() for p in students.parameters())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
            self._freeze()
            ndcg = full_ranking(self._score_users, valid, train, k=20, candidates=candidates)["ndcg@20"] if valid.size else 0.0
            self.history.append({"epoch": epoch, "loss": total, "valid_ndcg@20": ndcg})
            log.info("aldi epoch %d: loss %.2f, validation NDCG@20 %.4f", epoch, total, ndcg)
            stopper.update(epoch, ndcg)
            if stopper.should_stop or not valid.size:
                break
        stopper.restore()
        self._freeze()
        self.best_valid_ndcg = stopper.best
        self.fit_seconds = time.perf_counter() - started
        log.info("aldi: best validation NDCG@20 %.4f at epoch %d, %.1f s with the teacher", stopper.best, stopper.best_epoch, self.fit_seconds)

    @torch.no_grad()
    def _freeze(self) -> None:
        self.item_student.eval()
        self.user_student.eval()
        self.cold_item_emb = self.item_student(self.content)

    @torch.no_grad()
    def _score_vectors(self, teacher_users: Tensor) -> Tensor:
        warm = teacher_users @ self.teacher.item_emb.T
        cold = self.user_student(teacher_users) @ self.cold_item_emb.T
        return torch.where(self.warm, warm, cold)

    def _score_users(self, users: Tensor) -> Tensor:
        return self._score_vectors(self.teacher.user_emb[users])

    def score(self, queries: Sequence[UserQuery]) -> Tensor:
        out = torch.empty(len(queries), len(self.warm))
        rows, vectors = [], []
        for row, query in enumerate(queries):
            liked = torch.as_tensor(np.asarray(query.liked, dtype=np.int64))
            if query.user is not None and query.user in self.teacher.user_items:
                user = self.teacher.user_emb[query.user]
                if len(liked):
                    user = (user + self.teacher.item_emb[liked].mean(0)) / 2
            elif len(liked):
                user = self.teacher.item_emb[liked].mean(0)
            else:
                out[row] = self.teacher.counts
                continue
            rows.append(row)
            vectors.append(user)
        if rows:
            out[rows] = self._score_vectors(torch.stack(vectors))
        return out

    def __repr__(self) -> str:
        return f"ALDI({self.weights})"


def _cold_validation(valid: np.ndarray, warm: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The validation pairs on items without training interactions and those items; all
    validation pairs and None (all items) when there is no such pair."""
    cold_pairs = valid[:, ~warm[valid[1]]] if valid.size else valid
    if cold_pairs.size:
        return cold_pairs, np.flatnonzero(~warm)
    return valid, None
