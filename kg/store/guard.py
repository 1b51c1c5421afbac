"""A circuit breaker around any :class:`~kgrec.kg.store.base.GraphStore`, for serving.

A server must keep answering from its in-memory model when the store goes away. So, for the
store a server holds:

- every read waits at most ``timeout`` seconds (it runs on a small thread pool; a read
  past its deadline is abandoned, not waited for);
- a failure (a :class:`~kgrec.kg.errors.StoreError`, or a read past its deadline when a cheap
  read right after it does not answer within ``PROBE_TIMEOUT`` either) opens the breaker:
  for ``retry_after`` seconds every call fails at once with
  :class:`~kgrec.kg.errors.StoreUnavailable`, without touching the store. A slow read on a store
  that still answers the cheap one fails alone: a busy server is not a dead one (the
  answer comes without explanations, the next one tries again);
- then the next call first probes the store with a cheap read (the others keep failing
  fast meanwhile): its success closes the breaker and the call goes on, its failure opens
  the breaker again. A cheap probe, because a server that has just restarted answers its
  first heavy queries slowly while it plans them.

Writes are not abandoned half-way (a write past a deadline might still commit), so they run
in the caller's thread with the store's own timeouts, and so do the reads that writes depend
on or that are large (``existing_ids`` while validating, ``counts``, ``export``); all of them
fail fast while the breaker is open. Each store serialises its own calls where it must (the
embedded store holds its graph under a lock of its own; its ``version()`` takes none, so it
answers at once even while a whole export holds the graph).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import pandas as pd

from kgrec.kg.errors import StoreError, StoreUnavailable
from kgrec.kg.graph import GraphDelta, GraphExport, GraphPath, NodeRef, PathQuery
from kgrec.kg.identifiers import ITEM
from kgrec.kg.store.base import Changes, GraphCounts, GraphStore, Neighbour, Progress

log = logging.getLogger(__name__)

T = TypeVar("T")
READ_WORKERS = 8
PROBE_TIMEOUT = 0.25
"""Seconds a cheap read (one node by id) may take to show that a slow store is alive."""


class GuardedStore(GraphStore):
    """``inner`` behind a circuit breaker (see the module's docstring)."""

    def __init__(self, inner: GraphStore, timeout: float = 1.0, retry_after: float = 2.0,
                 on_failure: Callable[[StoreError], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner, self.kind = inner, inner.kind
        self.timeout, self.retry_after = timeout, retry_after
        self.on_failure = on_failure
        self._clock = clock
        self._state = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._last_error = ""
        self._pool = ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="store-read")

    # --- the breaker -----------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False while the breaker is open (the store failed and has not answered since)."""
        return self._down_since is None

    def status(self) -> dict[str, object]:
        """For ``/v1/health``: reachable or not, since when, the last error."""
        if self._down_since is None:
            return {"reachable": True}
        return {"reachable": False, "down_for_s": round(self._clock() - self._down_since, 1), "error": self._last_error}

    def probe(self) -> bool:
        """Check the store now (a cheap read) unless the breaker says to wait; True when it answers."""
        try:
            self.node(NodeRef(ITEM, ""))
        except StoreError:
            return False
        return True

    def _admit(self) -> None:
        with self._state:
            if self._down_since is None:
                return
            now = self._clock()
            if now < self._retry_at:
                raise StoreUnavailable(f"the {self.kind} store is unreachable ({self._last_error}); "
                                       f"next try in {self._retry_at - now:.1f} s")
            self._retry_at = now + self.retry_after  # this call probes; the others wait for it
        if not self._answers(self.timeout):
            raise StoreUnavailable(f"the {self.kind} store is still unreachable ({self._last_error})")

    def _answers(self, timeout: float) -> bool:
        """Whether the store answers a cheap read (one node by id) within ``timeout``;
        the breaker opens when it does not, and closes when it does."""
        future = self._pool.submit(self.inner.node, NodeRef(ITEM, ""))
        try:
            future.result(timeout=timeout)
        except FutureTimeout:
            self._failed(StoreUnavailable(f"the {self.kind} store did not answer a cheap read within {timeout:g} s"))
            return False
        except StoreError as error:
            self._failed(error)
            return False
        self._succeeded()
        return True

    def _failed(self, error: StoreError) -> None:
        with self._state:
            if self._down_since is None:
                self._down_since = self._clock()
                log.warning("the %s store is down: %s", self.kind, error)
            self._retry_at = self._clock() + self.retry_after
            self._last_error = str(error)
        if self.on_failure:
            self.on_failure(error)

    def _succeeded(self) -> None:
        if self._down_since is not None:
            with self._state:
                if self._down_since is not None:
                    log.warning("the %s store is back after %.1f s", self.kind, self._clock() - self._down_since)
                self._down_since = None

    def _read(self, call: Callable[[], T]) -> T:
        self._admit()
        future = self._pool.submit(call)
        try:
            result = future.result(timeout=self.timeout)
        except FutureTimeout:
            error = StoreUnavailable(f"the {self.kind} store did not answer within {self.timeout:g} s")
            self._answers(PROBE_TIMEOUT)  # a busy store answers this at once; a dead one opens the breaker
            raise error from None
        except StoreError as error:
            self._failed(error)
            raise
        self._succeeded()
        return result

    def _unbounded(self, call: Callable[[], T]) -> T:
        self._admit()
        try:
            result = call()
        except StoreError as error:
            self._failed(error)
            raise
        self._succeeded()
        return result

    # --- the interface -----------------------------------------------------------------

    def load(self, delta: GraphDelta, progress: Progress | None = None) -> None:
        self._unbounded(lambda: self.inner.load(delta, progress))

    def load_stream(self, deltas: Iterable[GraphDelta], progress: Progress | None = None) -> None:
        self._unbounded(lambda: self.inner.load_stream(deltas, progress))

    def write_interactions(self, events: pd.DataFrame) -> list[bool]:
        return self._unbounded(lambda: self.inner.write_interactions(events))

    def compare(self, delta: GraphDelta) -> dict[str, Changes]:
        return self._unbounded(lambda: self.inner.compare(delta))

    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        return self._unbounded(lambda: self.inner.existing_ids(label, wanted))

    def counts(self) -> GraphCounts:
        return self._unbounded(self.inner.counts)

    def node(self, ref: NodeRef) -> dict[str, object] | None:
        return self._read(lambda: self.inner.node(ref))

    def neighbours(self, ref: NodeRef, limit: int = 100) -> list[Neighbour]:
        return self._read(lambda: self.inner.neighbours(ref, limit))

    def find_paths(self, queries: Sequence[PathQuery]) -> list[list[GraphPath]]:
        return self._read(lambda: self.inner.find_paths(queries))

    def remove_item(self, item_id: str) -> bool:
        return self._unbounded(lambda: self.inner.remove_item(item_id))

    def version(self) -> str:
        return self._read(self.inner.version)

    def export(self) -> GraphExport:
        return self._unbounded(self.inner.export)

    def clear(self) -> None:
        self._unbounded(self.inner.clear)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.inner.close()

    def __getattr__(self, name: str) -> object:
        """Anything else the wrapped store offers (``folder``, ``graph``...)."""
        return getattr(self.inner, name)
