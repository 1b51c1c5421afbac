"""Concurrent calls gathered into one batch (kgrec.app.coalesce)."""
from __future__ import annotations

import threading
import time

import pytest

from kgrec.app.coalesce import Coalescer


class Blocking:
    """A batch function whose first call waits until released, recording every batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, entries: list[int]) -> list[int]:
        self.batches.append(list(entries))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if any(e < 0 for e in entries):
            raise ValueError("negative entry")
        return [e * 10 for e in entries]


def _call_all(coalescer: Coalescer[int, int], calls: list[list[int]], first: Blocking) -> dict[int, object]:
    """Run the first call, wait until it is inside the batch function, start the others,
    wait until they have queued, then release the first."""
    results: dict[int, object] = {}

    def call(n: int) -> None:
        try:
            results[n] = coalescer(calls[n])
        except ValueError as error:
            results[n] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(calls))]
    threads[0].start()
    assert first.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while len(coalescer._pending) < len(calls) - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    first.release.set()
    for thread in threads:
        thread.join(10)
    return results


def test_a_call_alone_runs_at_once() -> None:
    run = Blocking()
    run.release.set()
    assert Coalescer(run)([1, 2]) == [10, 20]
    assert run.batches == [[1, 2]]


def test_calls_made_while_busy_run_together_and_each_gets_its_own_results() -> None:
    run = Blocking()
    coalescer = Coalescer(run)
    results = _call_all(coalescer, [[1], [2, 3], [4], []], run)
    assert run.batches[0] == [1]
    assert len(run.batches) == 2 and sorted(run.batches[1]) == [2, 3, 4]
    assert results == {0: [10], 1: [20, 30], 2: [40], 3: []}


def test_a_batch_holds_whole_calls_up_to_the_limit() -> None:
    run = Blocking()
    coalescer = Coalescer(run, limit=3)
    results = _call_all(coalescer, [[1], [2, 3], [4, 5], [6]], run)
    assert len(run.batches) >= 3 and all(len(b) <= 3 for b in run.batches)
    for call in ([2, 3], [4, 5]):
        assert sum(set(call) <= set(b) for b in run.batches) == 1  # a call is never split
    assert sorted(e for b in run.batches for e in b) == [1, 2, 3, 4, 5, 6]
    assert results == {0: [10], 1: [20, 30], 2: [40, 50], 3: [60]}


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_calls_still_run() -> None:
    run = Blocking()
    coalescer = Coalescer(run)
    results = _call_all(coalescer, [[1], [2], [-3]], run)
    assert results[0] == [10]
    assert isinstance(results[1], ValueError) and results[1] is results[2]
    assert coalescer([7]) == [70]


def test_a_batch_function_returning_the_wrong_number_of_results_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="returned 1 results for 2 entries"):
        Coalescer(lambda entries: entries[:1])([1, 2])
