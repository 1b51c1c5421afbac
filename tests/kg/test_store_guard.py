"""The circuit breaker around a store (kg/store/guard.py), over a store that can be made to
fail or hang: a unit test of the breaker, so the store is a stand-in (the real Neo4j going
away is tested over HTTP in test_api.py)."""
from __future__ import annotations

import threading
import time

import pytest

from kgrec.kg.errors import StoreError, StoreUnavailable
from kgrec.kg.graph import NodeRef
from kgrec.kg.store.base import GraphStore
from kgrec.kg.store.guard import GuardedStore


class Switchable(GraphStore):
    kind = "neo4j"

    def __init__(self) -> None:
        self.down = False
        self.hang = threading.Event()
        self.slow_paths = threading.Event()
        self.calls = 0

    def node(self, ref: NodeRef) -> dict[str, object] | None:
        self.calls += 1
        if self.down:
            raise StoreError("connection refused")
        if self.hang.is_set():
            time.sleep(2)
        return {"id": ref.id}

    def remove_item(self, item_id: str) -> bool:
        self.calls += 1
        if self.down:
            raise StoreError("connection refused")
        return True

    def find_paths(self, queries):  # type: ignore[no-untyped-def]
        if self.slow_paths.is_set():
            time.sleep(2)
        return []

    load = existing_ids = counts = neighbours = export = clear = version = None  # type: ignore[assignment]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts() -> tuple[Switchable, GuardedStore, Clock]:
    inner, clock = Switchable(), Clock()
    guarded = GuardedStore(inner, timeout=0.3, retry_after=2.0, clock=clock)
    yield inner, guarded, clock
    guarded.close()


REF = NodeRef("Item", "1")


def test_a_failure_opens_the_breaker_and_calls_then_fail_fast(parts) -> None:  # type: ignore[no-untyped-def]
    inner, guarded, clock = parts
    inner.down = True
    with pytest.raises(StoreError):
        guarded.node(REF)
    assert not guarded.available and guarded.status()["reachable"] is False
    calls = inner.calls
    for call in (lambda: guarded.node(REF), lambda: guarded.remove_item("1")):
        with pytest.raises(StoreUnavailable, match="unreachable"):
            call()
    assert inner.calls == calls  # the store was not touched


def test_after_a_while_one_call_probes_and_success_closes_it(parts) -> None:  # type: ignore[no-untyped-def]
    inner, guarded, clock = parts
    inner.down = True
    with pytest.raises(StoreError):
        guarded.node(REF)
    clock.now += 2.5
    with pytest.raises(StoreError):
        guarded.node(REF)  # the probe, still failing
    with pytest.raises(StoreUnavailable):
        guarded.node(REF)  # waits again
    inner.down = False
    clock.now += 2.5
    assert guarded.node(REF) == {"id": "1"} and guarded.available
    assert guarded.probe()


def test_a_read_past_its_deadline_is_abandoned(parts) -> None:  # type: ignore[no-untyped-def]
    """A hung store: the read is given up at its deadline, the cheap read after it hangs
    too, and the breaker opens."""
    inner, guarded, _ = parts
    inner.hang.set()
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable, match="did not answer within 0.3 s"):
        guarded.node(REF)
    assert time.perf_counter() - started < 1.0 and not guarded.available
    calls = inner.calls
    with pytest.raises(StoreUnavailable, match="unreachable"):
        guarded.node(REF)
    assert inner.calls == calls


def test_a_slow_read_on_a_live_store_fails_alone(parts) -> None:  # type: ignore[no-untyped-def]
    """A busy store (a heavy path query past its deadline, a node lookup at once) is not a
    dead one: that read fails, the breaker stays closed."""
    inner, guarded, _ = parts
    inner.slow_paths.set()
    with pytest.raises(StoreUnavailable, match="did not answer within 0.3 s"):
        guarded.find_paths([])
    assert guarded.available and guarded.node(REF) == {"id": "1"}


def test_the_probe_is_a_cheap_read_before_the_call(parts) -> None:  # type: ignore[no-untyped-def]
    inner, guarded, clock = parts
    inner.down = True
    with pytest.raises(StoreError):
        guarded.node(REF)
    inner.down = False
    clock.now += 2.5
    calls = inner.calls
    assert guarded.node(REF) == {"id": "1"} and guarded.available
    assert inner.calls == calls + 2  # the probe, then the call itself
