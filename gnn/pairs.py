"""``(2, E)`` arrays of (user, item) pairs — interactions, a split's part, a condition's
truth — grouped by user, counted per item and sampled by user."""
from __future__ import annotations

import numpy as np


def group_by_user(pairs: np.ndarray | None, users: np.ndarray) -> dict[int, np.ndarray]:
    """The items of each of ``users`` in ``(2, E)`` (user, item) ``pairs``, in pair order;
    users without any are absent."""
    if pairs is None or np.size(pairs) == 0:
        return {}
    pairs = np.asarray(pairs, dtype=np.int64).reshape(2, -1)
    keep = np.isin(pairs[0], users)
    pairs = pairs[:, keep]
    order = np.argsort(pairs[0], kind="stable")
    u, i = pairs[0, order], pairs[1, order]
    bounds = np.flatnonzero(np.diff(u)) + 1
    return {int(us[0]): it for us, it in zip(np.split(u, bounds), np.split(i, bounds)) if len(us)}


def popularity(pairs: np.ndarray, n_items: int) -> np.ndarray:
    """Pairs per item ``(n_items,)``, as float32."""
    return np.bincount(np.asarray(pairs, dtype=np.int64).reshape(2, -1)[1], minlength=n_items).astype(np.float32)


def sample_users(pairs: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """The ``(2, E)`` ``pairs`` of at most ``limit`` of their users (a seeded sample; all
    of them when there are no more)."""
    users = np.unique(pairs[0])
    if users.size <= limit:
        return pairs
    kept = np.random.default_rng(seed).choice(users, limit, replace=False)
    return pairs[:, np.isin(pairs[0], kept)]
