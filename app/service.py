"""The recommendation service: a trained model serving the contract over the current store.

It reads the whole graph from the store the catalog was ingested into (embedded or
Neo4j), embeds what is new (cached), and lets the model fold the graph in once
(``KGRec.refresh``): items and users ingested after training are served at once, with no
retraining. After that it follows the store without reading it whole again: events
(a user interacted with an item) and new items are written to the store and applied to the
served state at once (:mod:`kgrec.app.state`); a whole refresh runs in the background after
``refresh_events`` changes or ``refresh_seconds``, and ``reload()`` runs one now (the app
calls it after its own ingests).

The store sits behind a circuit breaker (:mod:`kgrec.kg.store.guard`): when it is down,
recommendations are still answered from memory, without explanations and with a warning
saying why.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import torch

from kgrec.app.coalesce import Coalescer
from kgrec.app.explain import Explainer, Explanation, NodeNames
from kgrec.app.requests import Request, RequestError, decode_line, parse_request
from kgrec.app.state import ServingState, build_state, with_events, with_items
from kgrec.app.updates import Rejected, check_event_requests, check_items
from kgrec.app.user_items import EMPTY, UserItems
from kgrec.gnn.inference import KGRec
from kgrec.gnn.recommender import UserQuery
from kgrec.gnn.retrieval import CANDIDATES, build_index, candidate_rows, choose_retrieval
from kgrec.kg.errors import KgrecError, StoreError, StoreUnavailable
from kgrec.kg.graph import GraphExport, NodeRef
from kgrec.kg.identifiers import ENTITY, ITEM, USER
from kgrec.kg.settings import Settings
from kgrec.kg.store import GraphStore, open_store
from kgrec.kg.store.guard import GuardedStore
from kgrec.kg.to_graph import catalog_to_delta
from kgrec.kg.validate import attribute_entity_id
from kgrec.text.encoder import TextEncoder
from kgrec.text.sentences import free_text

log = logging.getLogger(__name__)

MIN_SHARED_ITEMS = 0.5
"""A model whose trained items are mostly absent from the store was trained on another catalog."""
VERSION_POLL_S = 2.0
"""How often a serving process asks the store whether another process wrote to it."""
REFRESH_SHARE = 0.1
"""At most this share of the time goes to background whole refreshes: after one that took
``d`` seconds the next starts no sooner than ``d / REFRESH_SHARE`` seconds after it began.
Under a steady stream of events the incremental updates keep answers current meanwhile; a
refresh every ``refresh_events`` events would otherwise take a core away from the readers."""
BATCH = 1024
"""Requests scored in one model call (and gathered from concurrent callers into one)."""
T = TypeVar("T")
STORE_DOWN = "explanations are left out: the graph store is unreachable ({}); the recommendations come from the model in memory"


def default_model_dir(settings: Settings) -> Path:
    return settings.models_dir / "default"


@dataclass
class Answer:
    """One line of the batch contract."""

    id: object
    items: list[dict[str, object]]
    fallback: str | None = None
    error: str | None = None
    warnings: list[str] | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "items": self.items, "fallback": self.fallback, "error": self.error}
        if self.warnings:
            out["warnings"] = self.warnings
        return out


@dataclass
class ServiceStats:
    """Counters the metrics endpoint reads."""

    events_applied: int = 0
    events_rejected: int = 0
    items_added: int = 0
    refreshes: int = 0
    store_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, counter: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + n)

    def store_failed(self, error: StoreError) -> None:
        self.add("store_errors")


@dataclass
class EventOutcome:
    accepted: list[dict[str, object]]
    """``{"index", "user_id", "item_id"}`` per event written and applied."""
    rejected: list[Rejected]


@dataclass
class ItemOutcome:
    accepted: list[str]
    """The ids of the items added (made up where none was given), in the order sent."""
    rejected: list[Rejected]


class RecommendationService:
    """The contract over one model and one store, kept current as the store changes.

    Readers take :attr:`state` once per request (an immutable :class:`ServingState`);
    changes — :meth:`record_events`, :meth:`add_items`, :meth:`reload` — build a new state
    and swap the reference, one at a time."""

    def __init__(self, settings: Settings, model_dir: Path | None = None, store: GraphStore | None = None,
                 progress: bool = False) -> None:
        self.settings = settings
        self.model_dir = model_dir or default_model_dir(settings)
        self.progress = progress
        self.stats = ServiceStats()
        self.model: KGRec = KGRec.load(self.model_dir, settings.device, progress=progress)
        opened = store or open_store(settings)
        self.store = opened if isinstance(opened, GuardedStore) else \
            GuardedStore(opened, timeout=settings.store_timeout, on_failure=self.stats.store_failed)
        self.encoder = TextEncoder(settings)
        self._item_text: tuple[GraphExport, np.ndarray] | None = None
        """The item text embeddings of one export, for :meth:`semantic_scores`."""
        self._changing = threading.Lock()
        """Held while a change is written to the store and applied: one change at a time."""
        self._events = Coalescer(self._record_events, limit=BATCH)
        """Concurrent callers' events, checked, written and applied together (group commit)."""
        self._journal: list[Callable[[ServingState], ServingState]] | None = None
        """Changes applied while a refresh reads the store, replayed onto its result."""
        self._refreshing = threading.Lock()
        self._refresh_due = threading.Event()
        self._rested_at = 0.0
        """``time.monotonic()`` before which the background refresh waits (see REFRESH_SHARE)."""
        self._closed = threading.Event()
        self._refresher: threading.Thread | None = None
        self._answers = Coalescer(self._answer, limit=BATCH)
        """Requests from concurrent callers, answered in one batch (:mod:`kgrec.app.coalesce`)."""
        self.store_version = ""
        """The store's version this service has accounted for: its last build's, or that of its
        own last write (see :meth:`_write`); another value in the store means another writer."""
        self.state: ServingState = self._build()
        self._start_refresher()

    def close(self) -> None:
        self._closed.set()
        self._refresh_due.set()
        if self._refresher is not None:
            self._refresher.join(timeout=60)
        self.store.close()

    # --- what readers see (the current state) ---------------------------------------------

    @property
    def export(self) -> GraphExport:
        return self.state.export

    @property
    def item_ids(self) -> np.ndarray:
        return self.state.item_ids

    @property
    def item_index(self) -> dict[str, int]:
        return self.state.item_index

    @property
    def user_index(self) -> dict[str, int]:
        return self.state.user_index

    @property
    def seen(self) -> UserItems:
        return self.state.seen

    @property
    def popularity(self) -> np.ndarray:
        return self.state.popularity

    @property
    def names(self) -> NodeNames:
        return self.state.names

    # --- whole refreshes --------------------------------------------------------------------

    def _build(self) -> ServingState:
        started = time.perf_counter()
        accounted = self.store_version
        version = self.store.version()  # before the export: a write in between reloads again
        export = self.store.export()
        self._check_model_matches(export)
        state = build_state(self.model, export, self.encoder, progress=self.progress)
        kind = choose_retrieval(self.settings.retrieval, len(state.item_ids), self.settings.ann_min_items, self.store.kind)
        state = replace(state, index=build_index(kind, state.item_ids, state.item_vectors, self.store))
        with self._changing:
            if self.store_version == accounted:  # else an own write meanwhile has moved it on already
                self.store_version = version
        log.info("service ready over %d items in %.2f s", len(state.item_ids), time.perf_counter() - started)
        return state

    def reload(self) -> None:
        """Rebuild the state from the whole store, then swap it in. Changes applied while the
        store is read are replayed onto the new state (they are idempotent), so none is lost
        and readers are never held up."""
        with self._refreshing:
            started = time.monotonic()
            with self._changing:
                self._journal = []
            try:
                state = self._build()
            except BaseException:
                with self._changing:
                    self._journal = None
                raise
            with self._changing:
                for change in self._journal or []:
                    state = change(state)
                self._journal = None
                self.state = state
            self.stats.add("refreshes")
            self._rested_at = started + (time.monotonic() - started) / REFRESH_SHARE

    def _changed(self, state: ServingState, change: Callable[[ServingState], ServingState]) -> None:
        """Swap in ``state`` (the caller holds ``_changing``), remember ``change`` for a
        refresh under way, and wake the background refresh when one is due."""
        self.state = state
        if self._journal is not None:
            self._journal.append(change)
        if state.changes >= self.settings.refresh_events:
            self._refresh_due.set()
        self._start_refresher()

    def _start_refresher(self) -> None:
        if self._refresher is None and not self._closed.is_set():
            self._refresher = threading.Thread(target=self._refresh_loop, name="kgrec-refresh", daemon=True)
            self._refresher.start()

    def _refresh_loop(self) -> None:
        """In the background: a whole refresh after ``refresh_events`` changes, or
        ``refresh_seconds`` after the first change since the last one, or when another
        process wrote to the store (its version moved; checked every ``VERSION_POLL_S``);
        never more often than REFRESH_SHARE allows."""
        while not self._closed.is_set():
            age = time.time() - self.state.built_at
            self._refresh_due.wait(timeout=max(0.1, min(VERSION_POLL_S, self.settings.refresh_seconds - age)))
            self._refresh_due.clear()
            if self._closed.is_set():
                return
            state = self.state
            due = state.changes and (state.changes >= self.settings.refresh_events
                                     or time.time() - state.built_at >= self.settings.refresh_seconds)
            if time.monotonic() >= self._rested_at and (due or self._store_moved()):
                try:
                    self.reload()
                except KgrecError as error:  # the store is down: keep serving what we have
                    log.warning("background refresh failed: %s", error)
                except Exception:  # noqa: BLE001 - a fault of kgrec's: logged, and the thread goes on refreshing
                    log.exception("background refresh failed")

    def _store_moved(self) -> bool:
        """Whether someone other than this service wrote to the store since the last build."""
        try:
            with self._changing:  # never halfway through one of our own writes
                return self.store.version() != self.store_version
        except KgrecError:  # unreachable: nothing to read yet
            return False

    def _write(self, write: Callable[[], T]) -> T:
        """One of the service's own store writes (the caller holds ``_changing``), keeping
        ``store_version`` current so that the version poll refreshes only for other writers.
        A version read that misses its deadline (a busy store) does not stop the write: at
        worst the poll refreshes once for nothing."""
        before = self._version_or_none()
        result = write()
        if before is not None and before == self.store_version:
            self.store_version = self._version_or_none() or ""
        return result

    def _version_or_none(self) -> str | None:
        try:
            return self.store.version()
        except StoreUnavailable:
            return None

    def reload_if_changed(self) -> bool:
        """Reload when the store changed since the last reload (another process, e.g. a
        ``kgrec ingest``, wrote to it); True when it did. Costs one ``store.version()``."""
        if self.store.version() == self.store_version:
            return False
        self.reload()
        return True

    def _check_model_matches(self, export: GraphExport) -> None:
        trained = self.model.id_maps.ids.get(ITEM, []) if self.model.id_maps else []
        if not trained:
            return
        present = len(set(trained) & set(export.ids(ITEM)))
        if present < MIN_SHARED_ITEMS * len(trained):
            raise KgrecError(
                f"the model in {self.model_dir} does not match the {self.settings.store} store: only {present:,} of the "
                f"{len(trained):,} items it was trained on are there. Train a model on this catalog (kgrec train)"
            )

    # --- incremental changes ------------------------------------------------------------------

    def record_events(self, raw: Sequence[object]) -> EventOutcome:
        """Validate events, write the valid ones to the store, apply them to the model.

        Concurrent callers are committed together (one validation and one store write for
        all the events waiting, then one new state), so many small requests cost about one."""
        [outcome] = self._events([raw])
        if isinstance(outcome, KgrecError):
            raise outcome
        return outcome

    def _record_events(self, requests: list[Sequence[object]]) -> list[EventOutcome | KgrecError]:
        """:meth:`record_events` for several callers' requests at once; a request with valid
        events gets the store's error when the write fails."""
        checked = check_event_requests(requests, self.store.existing_ids, self.settings.rating_range, time.time())
        valid = [events for events, _ in checked if not events.empty]
        written: list[bool] = []
        failure: KgrecError | None = None
        if valid:
            frame = pd.concat(valid, ignore_index=True)
            with self._changing:
                try:
                    written = self._write(lambda: self.store.write_interactions(frame))
                except KgrecError as error:
                    failure = error
                else:
                    self._apply_events(frame, written)
        outcomes: list[EventOutcome | KgrecError] = []
        at = 0
        for events, rejected in checked:
            if not events.empty and failure is not None:
                outcomes.append(failure)
                continue
            accepted, gone = [], []
            for row, stored in zip(events.itertuples(index=False), written[at:at + len(events)]):
                if stored:
                    accepted.append({"index": int(row.index), "user_id": row.user_id, "item_id": row.item_id})
                else:
                    gone.append(Rejected(int(row.index), "item_id", "unknown_item",
                                         f"item_id {row.item_id!r} is not in the store (removed meanwhile)"))
            at += len(events)
            self.stats.add("events_rejected", len(rejected) + len(gone))
            outcomes.append(EventOutcome(accepted, sorted(rejected + gone, key=lambda r: r.index)))
        return outcomes

    def _apply_events(self, frame: pd.DataFrame, written: list[bool]) -> None:
        pairs = [(u, i) for u, i, w in zip(frame["user_id"], frame["item_id"], written) if w]
        state, unserved = with_events(self.state, pairs)
        self._changed(state, lambda s: with_events(s, pairs)[0])
        self.stats.add("events_applied", len(pairs) - unserved)
        if unserved:  # items another writer added to the store since the last refresh
            self._refresh_due.set()

    def add_items(self, raw: Sequence[object]) -> ItemOutcome:
        """Validate new items (with their triples), write them to the store, serve them."""
        catalog, ids, rejected = check_items(raw, self.store.existing_ids)
        if ids:
            with self._changing:
                self._write(lambda: self.store.load(catalog_to_delta(catalog)))
                state = with_items(self.state, catalog, self.encoder)
                self._changed(state, lambda s: with_items(s, catalog, self.encoder))
            self.stats.add("items_added", len(ids))
        return ItemOutcome(ids, rejected)

    def health(self) -> dict[str, object]:
        state = self.state
        store = self.store.status()
        if not store["reachable"]:
            store["reachable"] = self.store.probe()
        return {
            "status": "ok" if store["reachable"] else "degraded",
            "store": {"kind": self.store.kind, **store},
            "model": {"loaded": True, "folder": self.model_dir.name, "built_s_ago": round(time.time() - state.built_at, 1),
                      "changes_since_build": state.changes},
            "counts": {"items": len(state.item_ids), "users": len(state.user_ids), "entities": len(state.entity_ids),
                       "events_applied": self.stats.events_applied, "items_added": self.stats.items_added},
        }

    def _embed(self, state: ServingState, nodes: Sequence[NodeRef]) -> np.ndarray:
        """Final embeddings of ``nodes``, in order (zeros for a node the state cannot place)."""
        out = np.zeros((len(nodes), state.item_vectors.shape[1]), dtype=np.float32)
        entities = [(n, state.entity_index[node.id]) for n, node in enumerate(nodes)
                    if node.label == ENTITY and node.id in state.entity_index]
        users = [(n, state.user_index[node.id]) for n, node in enumerate(nodes)
                 if node.label == USER and state.user_index.get(node.id, state.model_users) < state.model_users]
        for n, node in enumerate(nodes):
            if node.label == ITEM and node.id in state.item_index:
                out[n] = state.item_vectors[state.item_index[node.id]]
        for label, found in ((ENTITY, entities), (USER, users)):
            if found:
                out[[n for n, _ in found]] = state.model.node_embeddings(label, [row for _, row in found]).numpy()
        return out

    def _degree(self, state: ServingState, node: NodeRef) -> int:
        index = {ITEM: state.item_index, ENTITY: state.entity_index, USER: state.user_index}[node.label]
        row = index.get(node.id)
        degrees = state.degrees[node.label]
        return int(degrees[row]) if row is not None and row < len(degrees) else 0

    # --- the contract ------------------------------------------------------------------

    def answer_lines(self, lines: Iterable[str], default_k: int = 20, explain: bool = False) -> list[dict[str, object]]:
        """Answer JSONL request lines, one answer per line, in order."""
        parsed: list[Request | Answer] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = decode_line(line, number)
            except RequestError as error:
                parsed.append(Answer(None, [], error=str(error)))
                continue
            parsed.append(self._parse(raw, default_k, explain))
        return [a.to_dict() for a in self._answers(parsed)]

    def recommend(self, requests: Sequence[object], default_k: int = 20, explain: bool = False) -> list[dict[str, object]]:
        """Answer already-decoded requests (dicts), one answer each, in order."""
        return [a.to_dict() for a in self._answers([self._parse(r, default_k, explain) for r in requests])]

    def _parse(self, raw: object, default_k: int, explain: bool) -> Request | Answer:
        try:
            return parse_request(raw, default_k, explain)
        except RequestError as error:
            return Answer(error.request_id, [], error=str(error))

    def _answer(self, parsed: Sequence[Request | Answer]) -> list[Answer]:
        state = self.state  # one state for the whole batch
        answers: list[Answer | None] = [p if isinstance(p, Answer) else None for p in parsed]
        queries: list[tuple[int, Request, UserQuery, list[str]]] = []
        texts: list[tuple[int, str]] = []
        for position, request in enumerate(parsed):
            if isinstance(request, Answer):
                continue
            try:
                query, warnings = self._query(state, request)
                if query is None:
                    answers[position] = self._popular(state, request, warnings)
                    continue
            except Exception as error:  # noqa: BLE001 - whatever one request causes stays with it
                answers[position] = _failed(request, error)
                continue
            queries.append((position, request, query, warnings))
            if request.text:
                texts.append((len(queries) - 1, request.text))
        if texts:
            vectors = self.encoder.encode([free_text(t) for _, t in texts], progress=False, cache=False)
            for (q, _), vector in zip(texts, vectors):
                position, request, query, warnings = queries[q]
                queries[q] = (position, request, UserQuery(query.user, query.liked, query.attributes, vector), warnings)
        by_exploration: dict[float | None, list[tuple[int, Request, UserQuery, list[str]]]] = {}
        for entry in queries:
            by_exploration.setdefault(entry[1].exploration, []).append(entry)
        for exploration, group in by_exploration.items():
            for start in range(0, len(group), BATCH):
                chunk = group[start:start + BATCH]
                model_queries = [state.model_query(q.user, q.liked, q.attributes, q.text) for _, _, q, _ in chunk]
                scores = self._scores(state, chunk, model_queries, exploration)
                explained = any(request.explain for _, request, _, _ in chunk)
                vectors = self._user_vectors(state, [q for _, _, q, _ in chunk]) if explained else [None] * len(chunk)
                for (position, request, query, warnings), row, vector in zip(chunk, scores, vectors):
                    try:
                        answers[position] = self._top(state, request, query, row, vector, warnings)
                    except Exception as error:  # noqa: BLE001 - whatever one request causes stays with it
                        answers[position] = _failed(request, error)
        return [a for a in answers if a is not None]

    def _scores(self, state: ServingState, chunk: Sequence[tuple[int, Request, UserQuery, list[str]]],
                queries: Sequence[UserQuery], exploration: float | None) -> np.ndarray:
        """``(len(chunk), items)`` scores: every item's, or with an index only the candidates'
        (retrieved, exact-scored; ``-inf`` elsewhere), the request's own ``candidates`` when
        it names them, items added since the build always. An index that fails (Neo4j
        down) leaves the chunk to the exact scan."""
        if state.index is not None:
            try:
                return self._candidate_scores(state, chunk, queries, exploration)
            except StoreError as error:
                log.warning("the %s index failed (%s): scoring every item", state.index.kind, error)
        return state.model.score(queries, exploration=exploration, added=state.added).numpy()

    def _candidate_scores(self, state: ServingState, chunk: Sequence[tuple[int, Request, UserQuery, list[str]]],
                          queries: Sequence[UserQuery], exploration: float | None) -> np.ndarray:
        assert state.index is not None
        rows: list[np.ndarray] = [np.asarray([state.item_index[i] for i in request.candidates or ()], dtype=np.int64)
                                  for _, request, _, _ in chunk]
        search = [row for row, (_, request, _, _) in enumerate(chunk) if request.candidates is None]
        if search:
            wanted = CANDIDATES + max(chunk[r][1].k + len(chunk[r][1].liked) + len(chunk[r][1].exclude)
                                      + len(state.seen.get(chunk[r][2].user, EMPTY) if chunk[r][2].user is not None else ())
                                      for r in search)
            vectors = state.model.user_embeddings([queries[r] for r in search]).numpy()
            for row, found in zip(search, state.index.search(vectors, min(wanted, state.model_items))):
                rows[row] = found
        candidates = candidate_rows(rows, np.arange(state.model_items, len(state.item_ids)))
        scored = state.model.score(queries, exploration=exploration, added=state.added,
                                   candidates=torch.as_tensor(candidates)).numpy()
        out = np.full((len(chunk), len(state.item_ids)), -np.inf, dtype=np.float32)
        np.put_along_axis(out, candidates, scored.astype(np.float32), axis=1)
        return out

    def _user_vectors(self, state: ServingState, queries: Sequence[UserQuery]) -> np.ndarray:
        """The vector each query scores items with: a user changed since the build has one
        folded in already; any other query goes to the model with the user's fresh likes."""
        out = np.zeros((len(queries), state.item_vectors.shape[1]), dtype=np.float32)
        cached = [n for n, q in enumerate(queries) if q.user in state.user_vectors and not q.liked and not q.attributes
                  and q.text is None]
        for n in cached:
            out[n] = state.user_vectors[queries[n].user]
        rest = sorted(set(range(len(queries))) - set(cached))
        if rest:
            model_queries = [state.model_query(queries[n].user, queries[n].liked, queries[n].attributes, queries[n].text)
                             for n in rest]
            out[rest] = state.model.user_embeddings(model_queries).numpy()
        return out

    def _query(self, state: ServingState, request: Request) -> tuple[UserQuery | None, list[str]]:
        """The request as a query over served positions (``user`` is a served user row)."""
        user = None
        if request.user_id is not None:
            if request.user_id not in state.user_index:
                raise RequestError(f"unknown user_id {request.user_id!r}")
            user = state.user_index[request.user_id]
        missing = [i for i in request.liked if i not in state.item_index]
        if missing:
            raise RequestError("unknown item id(s) in liked: " + ", ".join(repr(i) for i in missing[:5]))
        if request.candidates is not None:
            unknown = [i for i in request.candidates if i not in state.item_index]
            if unknown:
                raise RequestError("unknown item id(s) in candidates: " + ", ".join(repr(i) for i in unknown[:5]))
        attributes, warnings = [], []
        for name, value in request.attributes:
            entity = attribute_entity_id(name, value)
            if entity in state.entity_index:
                attributes.append(state.entity_index[entity])
            else:
                warnings.append(f"attribute {name}={value!r} is not in the graph and was ignored")
        liked = [state.item_index[i] for i in request.liked]
        if user is not None and not state.has_signal(user) and not liked and not attributes and not request.text:
            return None, warnings  # a user created by events for items the model has yet to fold in
        if user is None and not liked and not attributes and not request.text:
            return None, warnings
        return UserQuery(user=user, liked=tuple(liked), attributes=tuple(attributes)), warnings

    def _excluded(self, state: ServingState, request: Request, user: int | None) -> np.ndarray:
        mask = np.zeros(len(state.item_ids), dtype=bool)
        if user is not None:
            mask[state.seen.get(user, [])] = True
        mask[[state.item_index[i] for i in request.liked if i in state.item_index]] = True
        mask[[state.item_index[i] for i in request.exclude if i in state.item_index]] = True
        if request.candidates is not None:
            allowed = np.zeros(len(state.item_ids), dtype=bool)
            allowed[[state.item_index[i] for i in request.candidates]] = True
            mask |= ~allowed
        return mask

    def _top(self, state: ServingState, request: Request, query: UserQuery, scores: np.ndarray, vector: np.ndarray | None,
             warnings: list[str]) -> Answer:
        scores = np.where(self._excluded(state, request, query.user), -np.inf, scores.astype(float))
        top = _top_k(scores, request.k)
        items = [{"item_id": str(state.item_ids[i]), "score": round(float(scores[i]), 6)} for i in top]
        if request.explain:
            try:
                explained = self._explain(state, request, query, vector, [str(entry["item_id"]) for entry in items])
            except StoreError as error:
                warnings = [*warnings, STORE_DOWN.format(error)]
            else:
                for entry, explanations in zip(items, explained):
                    entry["explanations"] = [self._explanation_dict(state, e) for e in explanations]
            # A new item is scored by the items its text is nearest to: that is its reason too.
            for entry, neighbours in zip(items, state.model.text_neighbours(top, state.added)):
                if neighbours:
                    entry["text_neighbours"] = [{"item_id": i, "name": state.names.name(NodeRef(ITEM, i)),
                                                 "weight": round(w, 4)} for i, w in neighbours]
        return Answer(request.id, items, warnings=warnings or None)

    def _popular(self, state: ServingState, request: Request, warnings: list[str]) -> Answer:
        user = state.user_index.get(request.user_id) if request.user_id is not None else None
        scores = np.where(self._excluded(state, request, user), -np.inf, state.popularity)
        top = _top_k(scores, request.k)
        items = [{"item_id": str(state.item_ids[i]), "score": float(scores[i])} for i in top]
        if user is not None:
            why = "the user's items are not folded into the model yet"
        elif warnings:
            why = "the request names no user, liked items or text, and none of its attributes is in the graph"
        else:
            why = "the request names no user, liked items, attributes or text"
        return Answer(request.id, items, fallback=f"popularity: {why}", warnings=warnings or None)

    def semantic_scores(self, query: str) -> np.ndarray:
        """Cosine of ``query``'s text embedding with each item's of the current export, in
        its item order (both unit length). The item embeddings come from the encoder's
        cache, filled when the state was built; they are kept per export."""
        from kgrec.text.sentences import item_sentences

        export = self.export
        cached = self._item_text
        if cached is None or cached[0] is not export:
            cached = (export, self.encoder.encode(item_sentences(export), progress=False))
            self._item_text = cached
        vector = self.encoder.encode([free_text(query)], progress=False, cache=False)[0]
        return cached[1] @ vector

    def explain_item(self, raw: dict[str, object], item_id: str, limit: int = 3) -> list[dict[str, object]]:
        """Explanations of ``item_id`` for the user a request describes (known, or new from
        liked items and attributes); a bad request or unknown item raises RequestError, an
        unreachable store StoreError."""
        state = self.state
        request = parse_request(raw)
        if item_id not in state.item_index:
            raise RequestError(f"unknown item id {item_id!r}")
        query, _ = self._query(state, request)
        if query is None:
            raise RequestError("name a user (user_id) or liked items / attributes to explain for")
        [vector] = self._user_vectors(state, [query])
        [explanations] = self._explain(state, request, query, vector, [item_id], limit)
        return [self._explanation_dict(state, e) for e in explanations]

    # --- explanations ------------------------------------------------------------------

    def _explain(self, state: ServingState, request: Request, query: UserQuery, vector: np.ndarray,
                 item_ids: Sequence[str], limit: int = 3) -> list[list[Explanation]]:
        liked = list(request.liked)
        attributes = [state.entity_ids[e] for e in query.attributes]
        if query.user is not None:
            liked = [str(state.item_ids[i]) for i in state.seen.get(query.user, [])] + liked
            attributes += [state.entity_ids[e] for e in state.user_attributes.get(query.user, [])]
        user_id = request.user_id if query.user is not None else None
        explainer = Explainer(self.store, state.names, lambda nodes: self._embed(state, nodes),
                              lambda node: self._degree(state, node), state.kg_types)
        return explainer.explain(item_ids, vector, user_id, liked, attributes, limit=limit)

    def _explanation_dict(self, state: ServingState, explanation: Explanation) -> dict[str, object]:
        path = explanation.path
        return {
            "sentence": explanation.sentence,
            "score": round(explanation.score, 6),
            "nodes": [{"label": n.label, "id": n.id, "name": state.names.name(n)} for n in path.nodes],
            "relationships": [{"type": s.type, "forward": s.forward} for s in path.steps],
        }


def _failed(request: Request, error: Exception) -> Answer:
    """The answer of a request that failed: its own error, the others are still answered. A
    user's error (RequestError, KgrecError) says what is wrong; anything else is a fault of
    kgrec's, logged, and named by its type only."""
    if isinstance(error, (RequestError, KgrecError)):
        return Answer(request.id, [], error=str(error))
    log.error("request %r failed: %s: %s", request.id, type(error).__name__, error)
    return Answer(request.id, [], error=f"this request could not be answered ({type(error).__name__}); the others were")


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0:
        return finite
    k = min(k, finite.size)
    part = finite[np.argpartition(-scores[finite], k - 1)[:k]]
    return part[np.lexsort((part, -scores[part]))]


__all__ = ["Answer", "EventOutcome", "ItemOutcome", "RecommendationService", "default_model_dir"]
