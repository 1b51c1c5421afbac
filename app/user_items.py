"""Each user's items (or attribute entities) as the service reads them: one compact CSR
built from the export, plus the users changed since.

A dict of one NumPy array per user costs ~200 bytes of overhead a user (200 MB at 1M
users) and an event had to copy the whole dict to make the next serving state. Here the
build's lists are two arrays (``rowptr``, ``values``: 8 bytes an interaction) shared by
every later state, and an event copies only the small dict of users changed since the
build (:meth:`UserItems.with_changes`)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class UserItems:
    """``rowptr`` ``(U + 1,)`` and ``values`` ``(nnz,)``: user ``u``'s positions are
    ``values[rowptr[u]:rowptr[u + 1]]``, unless ``changed`` holds the user's current ones."""

    rowptr: np.ndarray
    values: np.ndarray
    changed: Mapping[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: np.ndarray, n_users: int) -> UserItems:
        """From ``(2, E)`` (user, position) pairs, each user's positions in pair order."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(2, -1)
        order = np.argsort(pairs[0], kind="stable")
        rowptr = np.zeros(n_users + 1, dtype=np.int64)
        rowptr[1:] = np.cumsum(np.bincount(pairs[0], minlength=n_users)[:n_users])
        return cls(rowptr, pairs[1][order])

    def get(self, user: int, default: np.ndarray = EMPTY) -> np.ndarray:
        """The user's positions (read-only), ``default`` for a user the lists do not know."""
        if user in self.changed:
            return self.changed[user]
        if 0 <= user < self.rowptr.size - 1:
            return self.values[self.rowptr[user]: self.rowptr[user + 1]]
        return default

    def __getitem__(self, user: int) -> np.ndarray:
        return self.get(user)

    def with_changes(self, changes: Mapping[int, np.ndarray]) -> UserItems:
        """The lists with ``changes`` (user -> all of their positions now); this one is
        left as it is."""
        return UserItems(self.rowptr, self.values, {**self.changed, **changes})
