"""The recommendation service: a trained model serving the contract over the current store.

It reads the whole graph from the store the catalog was ingested into (embedded or
Neo4j), embeds what is new (cached), and lets the model fold the graph in once
(``KGRec.refresh``): items and users ingested after training are served at once, with no
retraining. ``reload()`` does that again after the store changed (the app calls it after
its own ingests; the CLI starts fresh each time).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.explain import Explainer, Explanation, NodeNames
from app.requests import Request, RequestError, parse_request
from gnn.checkpoint import load_checkpoint
from gnn.inference import KGRec
from gnn.recommender import UserQuery
from kg.errors import KgrecError
from kg.graph import GraphExport, NodeRef
from kg.identifiers import ENTITY, HAS_ATTRIBUTE, INTERACTED, ITEM, USER
from kg.settings import Settings
from kg.store import GraphStore, open_store
from kg.validate import attribute_entity_id
from text.encoder import TextEncoder
from text.features import node_text_features
from text.sentences import free_text

log = logging.getLogger(__name__)

MIN_SHARED_ITEMS = 0.5
"""A model whose trained items are mostly absent from the store was trained on another catalog."""


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


class RecommendationService:
    def __init__(self, settings: Settings, model_dir: Path | None = None, store: GraphStore | None = None,
                 progress: bool = False) -> None:
        self.settings = settings
        self.model_dir = model_dir or default_model_dir(settings)
        self.progress = progress
        self.model: KGRec = load_checkpoint(self.model_dir, settings.device, progress=progress)
        self.store = store or open_store(settings)
        self.encoder = TextEncoder(settings)
        self.reload()

    def close(self) -> None:
        self.store.close()

    # --- the graph -------------------------------------------------------------------

    def reload(self) -> None:
        """Read the store again and fold new items, users and interactions into the model."""
        started = time.perf_counter()
        export = self.store.export()
        self._check_model_matches(export)
        features = node_text_features(export, self.encoder, progress=self.progress)
        self.model.refresh(export, features[ITEM], features[ENTITY])
        self.export = export
        self.item_ids = np.asarray(export.ids(ITEM), dtype=object)
        self.item_index = export.index(ITEM)
        self.user_index = export.index(USER)
        self.entity_index = export.index(ENTITY)
        self.entity_ids = export.ids(ENTITY)
        self.seen = _neighbours(export, INTERACTED, ITEM)
        self.user_attributes = _neighbours(export, HAS_ATTRIBUTE, ENTITY)
        pairs = export.edge_index((INTERACTED, USER, ITEM)) if (INTERACTED, USER, ITEM) in export.edges else np.zeros((2, 0), int)
        self.popularity = np.bincount(pairs[1], minlength=len(self.item_ids)).astype(float)
        self.names = NodeNames(export)
        self.degrees = _degrees(export)
        self.explainer = Explainer(self.store, self.names, self._embed, self._degree, [key.type for key in export.edges])
        log.info("service ready over %d items in %.2f s", len(self.item_ids), time.perf_counter() - started)

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

    def _embed(self, nodes: Sequence[NodeRef]) -> np.ndarray:
        """The model's final embeddings of ``nodes``, in order."""
        index = {ITEM: self.item_index, ENTITY: self.entity_index, USER: self.user_index}
        positions = {label: [i for i, n in enumerate(nodes) if n.label == label] for label in index}
        parts = {label: self.model.node_embeddings(label, [index[label][nodes[i].id] for i in at]).numpy()
                 for label, at in positions.items() if at}
        out = np.zeros((len(nodes), next(iter(parts.values())).shape[1] if parts else 0))
        for label, vectors in parts.items():
            out[positions[label]] = vectors
        return out

    def _degree(self, node: NodeRef) -> int:
        index = {ITEM: self.item_index, ENTITY: self.entity_index, USER: self.user_index}[node.label]
        return int(self.degrees[node.label][index[node.id]])

    # --- the contract ------------------------------------------------------------------

    def answer_lines(self, lines: Iterable[str], default_k: int = 20, explain: bool = False) -> list[dict[str, object]]:
        """Answer JSONL request lines, one answer per line, in order."""
        parsed: list[Request | Answer] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                parsed.append(Answer(None, [], error=f"line {number} is not valid JSON ({error.msg})"))
                continue
            parsed.append(self._parse(raw, default_k, explain))
        return [a.to_dict() for a in self._answer(parsed)]

    def recommend(self, requests: Sequence[object], default_k: int = 20, explain: bool = False) -> list[dict[str, object]]:
        """Answer already-decoded requests (dicts), one answer each, in order."""
        return [a.to_dict() for a in self._answer([self._parse(r, default_k, explain) for r in requests])]

    def _parse(self, raw: object, default_k: int, explain: bool) -> Request | Answer:
        try:
            return parse_request(raw, default_k, explain)
        except RequestError as error:
            request_id = raw.get("id") if isinstance(raw, dict) else None
            return Answer(request_id, [], error=str(error))

    def _answer(self, parsed: Sequence[Request | Answer]) -> list[Answer]:
        answers: list[Answer | None] = [p if isinstance(p, Answer) else None for p in parsed]
        queries: list[tuple[int, Request, UserQuery, list[str]]] = []
        texts: list[tuple[int, str]] = []
        for position, request in enumerate(parsed):
            if isinstance(request, Answer):
                continue
            try:
                query, warnings = self._query(request)
            except RequestError as error:
                answers[position] = Answer(request.id, [], error=str(error))
                continue
            if query is None:
                answers[position] = self._popular(request)
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
            for start in range(0, len(group), 1024):
                chunk = group[start:start + 1024]
                scores = self.model.score([q for _, _, q, _ in chunk], exploration=exploration).numpy()
                for (position, request, query, warnings), row in zip(chunk, scores):
                    answers[position] = self._top(request, query, row, warnings)
        return [a for a in answers if a is not None]

    def _query(self, request: Request) -> tuple[UserQuery | None, list[str]]:
        user = None
        if request.user_id is not None:
            if request.user_id not in self.user_index:
                raise RequestError(f"unknown user_id {request.user_id!r}")
            user = self.user_index[request.user_id]
        missing = [i for i in request.liked if i not in self.item_index]
        if missing:
            raise RequestError("unknown item id(s) in liked: " + ", ".join(repr(i) for i in missing[:5]))
        if request.candidates is not None:
            unknown = [i for i in request.candidates if i not in self.item_index]
            if unknown:
                raise RequestError("unknown item id(s) in candidates: " + ", ".join(repr(i) for i in unknown[:5]))
        attributes, warnings = [], []
        for name, value in request.attributes:
            entity = attribute_entity_id(name, value)
            if entity in self.entity_index:
                attributes.append(self.entity_index[entity])
            else:
                warnings.append(f"attribute {name}={value!r} is not in the graph and was ignored")
        liked = [self.item_index[i] for i in request.liked]
        if user is None and not liked and not attributes and not request.text:
            return None, warnings
        return UserQuery(user=user, liked=tuple(liked), attributes=tuple(attributes)), warnings

    def _excluded(self, request: Request, query: UserQuery | None) -> np.ndarray:
        mask = np.zeros(len(self.item_ids), dtype=bool)
        if query is not None and query.user is not None:
            mask[self.seen.get(query.user, [])] = True
        mask[[self.item_index[i] for i in request.liked if i in self.item_index]] = True
        mask[[self.item_index[i] for i in request.exclude if i in self.item_index]] = True
        if request.candidates is not None:
            allowed = np.zeros(len(self.item_ids), dtype=bool)
            allowed[[self.item_index[i] for i in request.candidates]] = True
            mask |= ~allowed
        return mask

    def _top(self, request: Request, query: UserQuery, scores: np.ndarray, warnings: list[str]) -> Answer:
        scores = np.where(self._excluded(request, query), -np.inf, scores.astype(float))
        top = _top_k(scores, request.k)
        items = [{"item_id": str(self.item_ids[i]), "score": round(float(scores[i]), 6)} for i in top]
        if request.explain:
            explained = self.explain(request, query, [str(entry["item_id"]) for entry in items])
            for entry, explanations in zip(items, explained):
                entry["explanations"] = [self._explanation_dict(e) for e in explanations]
        return Answer(request.id, items, warnings=warnings or None)

    def _popular(self, request: Request) -> Answer:
        scores = np.where(self._excluded(request, None), -np.inf, self.popularity)
        top = _top_k(scores, request.k)
        items = [{"item_id": str(self.item_ids[i]), "score": float(scores[i])} for i in top]
        return Answer(request.id, items, fallback="popularity: the request names no user, liked items, attributes or text")

    def explain_item(self, raw: dict[str, object], item_id: str, limit: int = 3) -> list[dict[str, object]]:
        """Explanations of ``item_id`` for the user a request describes (known, or new from
        liked items and attributes); a bad request or unknown item raises RequestError."""
        request = parse_request(raw)
        if item_id not in self.item_index:
            raise RequestError(f"unknown item id {item_id!r}")
        query, _ = self._query(request)
        if query is None:
            raise RequestError("name a user (user_id) or liked items / attributes to explain for")
        [explanations] = self.explain(request, query, [item_id], limit)
        return [self._explanation_dict(e) for e in explanations]

    # --- explanations ------------------------------------------------------------------

    def explain(self, request: Request, query: UserQuery, item_ids: Sequence[str], limit: int = 3) -> list[list[Explanation]]:
        liked = list(request.liked)
        attributes = [self.entity_ids[e] for e in query.attributes]
        if query.user is not None:
            liked = [str(self.item_ids[i]) for i in self.seen.get(query.user, [])] + liked
            attributes += [self.entity_ids[e] for e in self.user_attributes.get(query.user, [])]
        user_id = request.user_id if query.user is not None else None
        user_vector = self.model.user_embeddings([query])[0].numpy()
        return self.explainer.explain(item_ids, user_vector, user_id, liked, attributes, limit=limit)

    def _explanation_dict(self, explanation: Explanation) -> dict[str, object]:
        path = explanation.path
        return {
            "sentence": explanation.sentence,
            "score": round(explanation.score, 6),
            "nodes": [{"label": n.label, "id": n.id, "name": self.names.name(n)} for n in path.nodes],
            "relationships": [{"type": s.type, "forward": s.forward} for s in path.steps],
        }


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0:
        return finite
    k = min(k, finite.size)
    part = finite[np.argpartition(-scores[finite], k - 1)[:k]]
    return part[np.lexsort((part, -scores[part]))]


def _degrees(export: GraphExport) -> dict[str, np.ndarray]:
    """Relationships per node, by label and export row."""
    degrees = {label: np.zeros(len(frame), dtype=np.int64) for label, frame in export.nodes.items()}
    for key, frame in export.edges.items():
        degrees[key.src] += np.bincount(frame["src"].to_numpy(np.int64), minlength=len(degrees[key.src]))
        degrees[key.dst] += np.bincount(frame["dst"].to_numpy(np.int64), minlength=len(degrees[key.dst]))
    return degrees


def _neighbours(export: GraphExport, rel_type: str, dst_label: str) -> dict[int, np.ndarray]:
    key = (rel_type, USER, dst_label)
    if key not in export.edges:
        return {}
    pairs = export.edge_index(key)
    order = np.argsort(pairs[0], kind="stable")
    users, targets = pairs[0][order], pairs[1][order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    return {int(group[0]): t for group, t in zip(np.split(users, bounds), np.split(targets, bounds)) if group.size}


__all__ = ["Answer", "RecommendationService", "default_model_dir"]
