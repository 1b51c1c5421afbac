"""What the app does, without Gradio: each action takes plain values and returns plain
values (strings, DataFrames, images), so it is tested without a browser.

One :class:`UiActions` wraps one :class:`~app.service.RecommendationService` and is
shared by every browser session. Reading (recommend, explain, search) takes a shared
lock; writing (ingesting into the store, then ``service.reload()``) takes it alone, so a
request never sees the service half reloaded nor the embedded store half written.

Errors a user can cause (an unknown id, a bad file, an empty title) come back as a
message; nothing here lets an exception escape to the page.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from app.auth import authorize
from app.markup import escape, without_paths
from app.ui import drawing
from app.ui.uploads import UploadError, staged_catalog
from gnn.checkpoint import CURVE_PNG, META
from kg.catalog import Catalog, empty_frame
from kg.errors import AccessDenied, KgrecError
from kg.limits import MAX_FIELD, MAX_TITLE
from kg.graph import NodeRef
from kg.identifiers import ENTITY, ITEM, LABELS, USER, relation_type
from kg.ingest import Checked, check, load
from kg.reader import read_catalog
from kg.validate import ATTRIBUTE_PREFIX

log = logging.getLogger(__name__)

MAX_DESCRIPTION = MAX_FIELD
"""Characters: the cap of any field, as for uploads and the CLI (kg/limits.py)."""
MAX_PROPERTIES = 50
MAX_LINKS = 50
SEARCH_RESULTS = 50
USER_CHOICES = 2_000
"""Known user ids :meth:`UiActions.known_users` returns at most."""
SMALL_TYPE = 100
"""Entity types with at most this many members (genres, ratings, languages) are offered
as a pick list in the add-item form."""
NEIGHBOURS = 200
"""Neighbours listed in the Explore table."""
FETCH_NEIGHBOURS = 5_000
PICTURED = 24
PICTURED_USERS = 6
"""Of the neighbours drawn, users fill at most this many places unless nothing else is there."""
RECOMMEND_COLUMNS = ["rank", "item_id", "title", "score"]
REJECTION_COLUMNS = ["file", "line", "field", "reason", "message", "raw"]
NEIGHBOUR_COLUMNS = ["relationship", "direction", "label", "id", "name"]
SEARCH_COLUMNS = ["item_id", "title", "description", "match"]
PATH_COLUMNS = ["path", "hop", "from", "relationship", "to"]
EVALUATION_COLUMNS = ["protocol", "recommender", "condition", "Recall@K", "NDCG@K", "K", "seeds", "file"]


class ReadWriteLock:
    """Many readers at once, or one writer alone (writers are not starved: a waiting
    writer holds off new readers)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._writing or self._writers_waiting:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._condition.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


@dataclass
class Recommendations:
    """One answer, as the Recommend tab shows it."""

    table: pd.DataFrame
    markdown: str
    items: list[dict[str, object]] = field(default_factory=list)
    """The answer's items (item_id, score, title, explanations) for the Explain tab."""
    ok: bool = True

    def choices(self) -> list[tuple[str, str]]:
        return [(f"{n}. {item['title']}", str(item["item_id"])) for n, item in enumerate(self.items, start=1)]


@dataclass
class PathView:
    markdown: str
    image: Image.Image | None
    table: pd.DataFrame


@dataclass
class IngestView:
    markdown: str
    rejected: pd.DataFrame
    ok: bool


class UiActions:
    def __init__(self, service) -> None:  # type: ignore[no-untyped-def]  # app.service.RecommendationService
        self.service = service
        self.lock = ReadWriteLock()
        self._item_text: tuple[int, np.ndarray] | None = None

    # --- what the forms offer --------------------------------------------------------

    def known_users(self, limit: int = USER_CHOICES) -> list[str]:
        with self.lock.reading():
            return _sorted_ids(self.service.export.ids(USER))[:limit]

    def user_choices(self, query: str, limit: int = SEARCH_RESULTS) -> list[str]:
        """Known user ids starting with ``query`` (what the user picker offers as one types;
        nothing for an empty query, so the page never lists every user)."""
        query = (query or "").strip()
        if not query:
            return []
        with self.lock.reading():
            ids = self.service.export.ids(USER)
        return _sorted_ids(i for i in map(str, ids) if i.startswith(query))[:limit]

    def attribute_choices(self) -> dict[str, list[str]]:
        """User attribute name -> its values, from the ``attr:NAME:VALUE`` entities."""
        with self.lock.reading():
            entities = self.service.export.nodes.get(ENTITY)
        if entities is None or entities.empty:
            return {}
        ids = entities["id"].astype(str)
        mask = ids.str.startswith(f"{ATTRIBUTE_PREFIX}:")
        choices: dict[str, set[str]] = {}
        for entity_id in ids[mask]:
            _, name, value = entity_id.split(":", 2)
            choices.setdefault(name, set()).add(value)
        return {name: _sorted_ids(values) for name, values in sorted(choices.items())}

    def link_choices(self) -> list[tuple[str, str]]:
        """(label, "RELATION|entity id") for the named entities of small types that items
        link to: genres, years, ratings. Each with the relation items use most to reach it;
        entities known only by a code (``m.0bxtg``) are left out: nobody could pick them."""
        from text.sentences import is_fallback_name

        with self.lock.reading():
            export = self.service.export
            names = self.service.names
        entities = export.nodes.get(ENTITY)
        if entities is None or entities.empty:
            return []
        relations: dict[int, dict[str, int]] = {}
        for key, frame in export.edges.items():
            if key.src == ITEM and key.dst == ENTITY:
                for entity, n in frame["dst"].value_counts().items():
                    relations.setdefault(int(entity), {})[key.type] = int(n)
        ids = entities["id"].astype(str).tolist()
        raw_names = entities["name"].tolist() if "name" in entities.columns else ids
        types = entities["type"].astype(str).tolist() if "type" in entities.columns else ["entity"] * len(ids)
        candidates = [p for p in relations if not is_fallback_name(raw_names[p], ids[p])]
        per_type = pd.Series([types[p] for p in candidates], dtype=object).value_counts()
        out = []
        for position in candidates:
            if per_type[types[position]] > SMALL_TYPE:
                continue
            relation = max(relations[position].items(), key=lambda pair: pair[1])[0]
            ref = NodeRef(ENTITY, ids[position])
            out.append((f"{names.kind(ref)}: {names.name(ref)}", f"{relation}|{ids[position]}"))
        return sorted(out)

    # --- recommend and explain -------------------------------------------------------

    def recommend(
        self,
        user_id: str | None = None,
        liked: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
        text: str | None = None,
        k: int = 10,
        only_new: bool = False,
    ) -> Recommendations:
        """Top ``k`` for a known user and/or a new one; ``only_new`` ranks only the items
        nobody has interacted with yet (cold items, e.g. those added in the Catalog tab)."""
        request: dict[str, object] = {"id": "ui", "k": int(k)}
        if only_new:
            new_items = self.new_items()
            if not new_items:
                return Recommendations(pd.DataFrame(columns=RECOMMEND_COLUMNS),
                                       "Every item has interactions: there is no new item to rank. "
                                       "Add one in the Catalog tab.", ok=False)
            request["candidates"] = new_items
        user_id = (user_id or "").strip()
        if user_id:
            request["user_id"] = user_id
        liked = [str(i).strip() for i in liked or () if str(i).strip()]
        if liked:
            request["liked"] = liked
        attributes = {n: str(v) for n, v in (attributes or {}).items() if v not in (None, "")}
        if attributes:
            request["attributes"] = attributes
        if text and text.strip():
            request["text"] = text
        answer, note = self.answer(request)
        return self._view(answer, note, request)

    def new_items(self) -> list[str]:
        """Items with no interactions in the store: cold items."""
        with self.lock.reading():
            return [str(i) for i in self.service.item_ids[self.service.popularity == 0]]

    def answer(self, request: dict[str, object]) -> tuple[dict[str, object], str | None]:
        """The contract's answer to one request, with explanations when they can be made
        (else without, and a note saying why)."""
        with self.lock.reading():
            try:
                [answer] = self.service.recommend([request], explain=True)
                return answer, None
            except KgrecError:
                raise
            except Exception as error:  # an explanation failed: still answer, without them
                log.exception("explanations failed; answering without them")
                [answer] = self.service.recommend([request], explain=False)
                return answer, f"explanations are unavailable ({type(error).__name__}: {error})"

    def _view(self, answer: dict[str, object], note: str | None, request: Mapping[str, object]) -> Recommendations:
        if answer.get("error"):
            return Recommendations(pd.DataFrame(columns=RECOMMEND_COLUMNS), f"**Error:** {escape(answer['error'])}", ok=False)
        titles = self.service.names.items
        items = []
        for entry in answer["items"]:  # type: ignore[union-attr]
            item = dict(entry)
            item["title"] = titles.get(str(item["item_id"]), str(item["item_id"]))
            items.append(item)
        table = pd.DataFrame(
            [(n, str(i["item_id"]), i["title"], round(float(i["score"]), 4)) for n, i in enumerate(items, start=1)],
            columns=RECOMMEND_COLUMNS,
        )
        lines: list[str] = []
        if answer.get("fallback"):
            lines.append(f"> **Fallback:** {escape(answer['fallback'])}")
        for warning in answer.get("warnings") or []:  # type: ignore[union-attr]
            lines.append(f"> **Warning:** {escape(warning)}")
        if note:
            lines.append(f"> **Note:** {escape(note)}")
        anchored = bool(request.get("user_id") or request.get("liked") or request.get("attributes"))
        if items and not anchored:
            lines.append("> Free text alone has no path in the graph: give liked items or attributes "
                         "to see why each item fits.")
        if lines:
            lines.append("")
        if not items:
            lines.append("No items to recommend: every candidate was excluded.")
        for n, item in enumerate(items, start=1):
            lines.append(f"**{n}. {escape(str(item['title']))}** — score {float(item['score']):.4f}")
            explanations = item.get("explanations") or []
            sentences: dict[str, int] = {}
            for explanation in explanations:  # type: ignore[union-attr]
                sentences[str(explanation["sentence"])] = sentences.get(str(explanation["sentence"]), 0) + 1
            for sentence, count in sentences.items():  # paths through different co-users read the same
                lines.append(f"- {sentence}" + (f" *({count} paths)*" if count > 1 else ""))
            if not explanations and "explanations" in item and anchored:
                lines.append("- *No path of at most three hops joins this item to what you gave.*")
            lines.append("")
        return Recommendations(table, "\n".join(lines).strip(), items)

    def explain_view(self, items: Sequence[Mapping[str, object]], item_id: str | None) -> PathView:
        """The paths of one recommended item as sentences, a table and a picture."""
        empty = pd.DataFrame(columns=PATH_COLUMNS)
        if not items:
            return PathView("Get recommendations first (Recommend tab).", None, empty)
        chosen = next((i for i in items if str(i["item_id"]) == str(item_id)), None)
        if chosen is None:
            return PathView(f"**Error:** item {item_id!r} is not among the current recommendations.", None, empty)
        title = escape(str(chosen.get("title", chosen["item_id"])))
        explanations = list(chosen.get("explanations") or [])  # type: ignore[call-overload]
        if not explanations:
            return PathView(f"**{title}**: no path of at most three hops joins it to what you gave.", None, empty)
        with self.lock.reading():
            kinds = {(n["label"], n["id"]): self.service.names.kind(NodeRef(n["label"], n["id"]))
                     for e in explanations for n in e["nodes"]}
        lines = [f"**{title}** — why it was recommended:"]
        rows = []
        for number, explanation in enumerate(explanations, start=1):
            lines.append(f"{number}. {explanation['sentence']} *(path score {float(explanation['score']):.3f})*")
            nodes, steps = explanation["nodes"], explanation["relationships"]
            for hop, (step, a, b) in enumerate(zip(steps, nodes, nodes[1:]), start=1):
                src, dst = (a, b) if step["forward"] else (b, a)
                rows.append((number, hop, src["name"], drawing.humanise(step["type"]), dst["name"]))
        image = drawing.draw_paths(explanations, kinds)
        return PathView("\n".join(lines), image, pd.DataFrame(rows, columns=empty.columns))

    # --- search and explore ------------------------------------------------------------

    def search_items(self, query: str, semantic: bool = False, limit: int = SEARCH_RESULTS) -> pd.DataFrame:
        """Items whose title contains ``query`` (case-insensitive), or, with ``semantic``,
        the items whose text embedding is closest to the query's."""
        query = (query or "").strip()
        with self.lock.reading():
            items = self.service.export.nodes.get(ITEM)
            if items is None or items.empty or not query:
                return pd.DataFrame(columns=SEARCH_COLUMNS)
            if semantic:
                scores = self._semantic_scores(query)
                order = np.argsort(-scores, kind="stable")[:limit]
                found = items.iloc[order].assign(match=np.round(scores[order], 3))
            else:
                titles = items["title"].fillna("").astype(str)
                mask = titles.str.contains(query, case=False, regex=False) | (items["id"].astype(str) == query)
                found = items[mask].assign(match="title")
                found = found.iloc[np.argsort(titles[mask].str.len().to_numpy(), kind="stable")][:limit]
        description = found["description"] if "description" in found.columns else pd.Series("", index=found.index)
        return pd.DataFrame({
            "item_id": found["id"].astype(str),
            "title": found["title"].fillna("").astype(str),
            "description": description.fillna("").astype(str).str.slice(0, 160),
            "match": found["match"],
        }).reset_index(drop=True)

    def item_choices(self, query: str, limit: int = SEARCH_RESULTS) -> list[tuple[str, str]]:
        """(``title (id)``, id) pairs for the liked-items picker."""
        found = self.search_items(query, limit=limit)
        return [(f"{t} ({i})", i) for i, t in zip(found["item_id"], found["title"])]

    def item_label(self, item_id: str) -> str:
        title = self.service.names.items.get(str(item_id))
        return f"{title} ({item_id})" if title is not None else str(item_id)

    def _semantic_scores(self, query: str) -> np.ndarray:
        """Cosine of the query's text embedding with each item's (both unit length).
        The item embeddings come from the encoder's cache, filled when the service loaded."""
        from text.sentences import free_text, item_sentences

        export = self.service.export
        if self._item_text is None or self._item_text[0] != id(export):
            self._item_text = (id(export), self.service.encoder.encode(item_sentences(export), progress=False))
        vector = self.service.encoder.encode([free_text(query)], progress=False, cache=False)[0]
        return self._item_text[1] @ vector

    def neighbourhood(self, label: str, node_id: str, limit: int = NEIGHBOURS) -> PathView:
        """A node's properties, its neighbours as a table and the neighbourhood drawn."""
        empty = pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
        node_id = (node_id or "").strip()
        if label not in LABELS:
            return PathView(f"**Error:** unknown label {label!r}: choose one of {', '.join(LABELS)}.", None, empty)
        if not node_id:
            return PathView("Give a node id (search for an item above, then pick a row).", None, empty)
        ref = NodeRef(label, node_id)
        with self.lock.reading():
            properties = self.service.store.node(ref)
            if properties is None:
                return PathView(f"**Error:** there is no {label} with id {node_id!r} in the graph.", None, empty)
            found = self.service.store.neighbours(ref, limit=FETCH_NEIGHBOURS)
            names = self.service.names
            # Facts first (entities, items), then users: an item's users would crowd out its genres.
            neighbours = sorted(found, key=lambda n: n.node.label == USER)[:limit]
            rows = [(n.type, "→" if n.forward else "←", n.node.label, n.node.id, names.name(n.node)) for n in neighbours]
            kinds = {(n.node.label, n.node.id): names.kind(n.node) for n in neighbours}
            kinds[(label, node_id)] = names.kind(ref)
            centre = names.name(ref)
        shown = {k: v for k, v in properties.items() if k != "id" and v is not None and not _is_nan(v)}
        lines = [f"**{escape(centre)}** ({label} {escape(node_id)})"]
        lines += [f"- {k}: {escape(_shorten(str(v), 300))}" for k, v in shown.items()]
        users = sum(1 for n in found if n.node.label == USER)
        more = "+" if len(found) == FETCH_NEIGHBOURS else ""
        lines.append(f"\n{len(found):,}{more} neighbour(s), {users:,}{more if users else ''} of them users"
                     + (f"; the table shows {limit}" if len(found) > limit else "") + ".")
        pictured = [n for n in neighbours if n.node.label != USER][:PICTURED - PICTURED_USERS]
        pictured += [n for n in neighbours if n.node.label == USER][:PICTURED - len(pictured)]
        image = drawing.draw_neighbourhood(ref, centre, [(n, names.name(n.node)) for n in pictured], kinds,
                                           total=len(found))
        return PathView("\n".join(lines), image, pd.DataFrame(rows, columns=NEIGHBOUR_COLUMNS))

    # --- change the catalog --------------------------------------------------------------

    def ingest_upload(self, paths: Sequence[str | Path], strict: bool = False, token: str | None = None) -> IngestView:
        """Validate uploaded catalog files (CSV/JSONL tables, or one zip of a catalog
        folder), ingest the valid rows and reload the service. ``token``: the write token
        when the server has one (``KGREC_API_TOKEN``)."""
        try:
            authorize(self.service.settings, token or None, write=True)
            with staged_catalog([Path(p) for p in paths or []]) as folder:
                try:
                    catalog, files, rejections = read_catalog(folder)
                except KgrecError as error:  # its message names the staging folder: not the visitor's business
                    raise KgrecError(str(error).replace(str(folder), "the upload")) from None
                return self._ingest(catalog, files, rejections, strict)
        except (UploadError, KgrecError) as error:
            return IngestView(f"**Nothing was ingested.** {_message(error)}", pd.DataFrame(columns=REJECTION_COLUMNS), False)

    def add_item(
        self,
        title: str,
        description: str = "",
        item_id: str = "",
        properties: str = "",
        links: Sequence[str] = (),
        more_links: str = "",
        token: str | None = None,
    ) -> IngestView:
        """Ingest one item as a one-item catalog. ``properties``: ``key = value`` lines;
        ``links``: ``RELATION|entity id`` values from :meth:`link_choices`; ``more_links``:
        ``RELATION = entity id or exact name`` lines; ``token``: the write token when the
        server has one."""
        empty = pd.DataFrame(columns=REJECTION_COLUMNS)
        try:
            authorize(self.service.settings, token or None, write=True)
            catalog = self._one_item_catalog(title, description, item_id, properties, links, more_links)
        except KgrecError as error:
            return IngestView(f"**The item was not added.** {_message(error)}", empty, False)
        view = self._ingest(catalog, None, [], strict=True)
        if view.ok:
            new_id = str(catalog.items["item_id"].iloc[0])
            view.markdown = f"**Added** *{escape(title.strip())}* as item {escape(new_id)}; it is served now.\n\n" + view.markdown
        return view

    def _one_item_catalog(self, title: str, description: str, item_id: str, properties: str,
                          links: Sequence[str], more_links: str) -> Catalog:
        title, description, item_id = (title or "").strip(), (description or "").strip(), (item_id or "").strip()
        if not title:
            raise KgrecError("the title is empty: give the item a title.")
        if len(title) > MAX_TITLE:
            raise KgrecError(f"the title has {len(title):,} characters; at most {MAX_TITLE:,} are allowed.")
        if len(description) > MAX_DESCRIPTION:
            raise KgrecError(f"the description has {len(description):,} characters; at most {MAX_DESCRIPTION:,} "
                             "are allowed (the text model reads only the first few hundred).")
        with self.lock.reading():
            if item_id and self.service.store.node(NodeRef(ITEM, item_id)) is not None:
                raise KgrecError(f"an item with id {item_id!r} already exists: leave the id empty for a new one.")
            triples = [_link(value) for value in links or ()]
            missing = [entity for _, entity in triples if self.service.store.node(NodeRef(ENTITY, entity)) is None]
            if missing:
                raise KgrecError(f"no entity has the id {missing[0]!r}: pick links from the list.")
            triples += [self._resolve_link(line) for line in _lines(more_links)]
        item_id = item_id or f"new-{uuid.uuid4().hex[:8]}"
        row: dict[str, str] = {"item_id": item_id, "title": title, "description": description}
        for line in _lines(properties):
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key):
                raise KgrecError(f"property {line!r}: write one 'name = value' per line, the name made of letters, digits and _.")
            if key in row:
                raise KgrecError(f"property {key!r} is given twice or is reserved.")
            if len(value.strip()) > MAX_FIELD:
                raise KgrecError(f"property {key!r} has {len(value.strip()):,} characters; at most {MAX_FIELD:,} are allowed.")
            row[key] = value.strip()
        if len(row) - 3 > MAX_PROPERTIES or len(triples) > MAX_LINKS:
            raise KgrecError(f"at most {MAX_PROPERTIES} properties and {MAX_LINKS} links per item.")
        unique = list(dict.fromkeys(triples))
        frame = (pd.DataFrame([(item_id, r, e) for r, e in unique], columns=["head", "relation", "tail"], dtype=object)
                 if unique else empty_frame(("head", "relation", "tail")))
        return Catalog(items=pd.DataFrame([row], dtype=object), triples=frame, name=f"ui-item-{item_id}")

    def _resolve_link(self, line: str) -> tuple[str, str]:
        """``RELATION = entity`` where the entity is an id or an exact name (case-insensitive)."""
        relation, sep, target = line.partition("=")
        relation, target = relation.strip(), target.strip()
        if not sep or not relation or not target:
            raise KgrecError(f"link {line!r}: write one 'RELATION = entity' per line, e.g. 'DIRECTED_BY = George Lucas'.")
        canonical = relation_type(relation)
        if canonical is None:
            raise KgrecError(f"link {line!r}: {relation!r} is not a valid relation name (letters, digits, _).")
        if self.service.store.node(NodeRef(ENTITY, target)) is not None:
            return canonical, target
        entities = self.service.export.nodes.get(ENTITY)
        if entities is not None and not entities.empty:
            names = entities["name"].fillna("").astype(str).str.casefold()
            found = entities["id"][names == target.casefold()].astype(str).tolist()
            if len(found) == 1:
                return canonical, found[0]
            if len(found) > 1:
                raise KgrecError(f"link {line!r}: {len(found)} entities are named {target!r} "
                                 f"({', '.join(found[:5])}): give the id instead.")
        raise KgrecError(f"link {line!r}: no entity has the id or name {target!r} (search it in the Explore tab).")

    def _ingest(self, catalog: Catalog, files: dict[str, str] | None, rejections: list, strict: bool) -> IngestView:
        """Validate and report while readers are served (a shared lock: validation only
        reads the store), then take the write lock only to load and reload."""
        settings = self.service.settings
        try:
            with self.lock.reading():
                checked = check(catalog, self.service.store, settings, files, rejections)
        except KgrecError as error:
            return IngestView(f"**Nothing was ingested.** {_message(error)}", _rejections([]), False)
        report = checked.report
        if strict and report.rejected_total:
            return IngestView(f"**Nothing was ingested** (strict): {report.rejected_total:,} row(s) rejected. First: "
                              f"{escape(report.rejections[0].describe())}", _rejections(report.rejections), False)
        accepted = sum(report.accepted.values())
        written, served = self._load(checked) if accepted else (True, "The store was not touched.")
        if not written:  # nothing to write: readers were not held back for a reload that changes nothing
            return IngestView(f"**Nothing was ingested.** {served}", _rejections(report.rejections), False)
        lines = [
            f"**{'Ingested' if accepted else 'Nothing valid to ingest'}** into the {settings.store} store"
            + (": " + ", ".join(f"{f} {n:,} row(s)" for f, n in report.accepted.items() if n) if accepted else "") + ".",
            f"**Rejected:** {report.rejected_total:,} row(s)" + ("." if not report.rejected_total else
                                                                  ", listed below (the first 1,000)."),
        ]
        for file, reasons in report.rejected.items():
            lines.append(f"- {file}: " + ", ".join(f"{n:,} {reason}" for reason, n in reasons.items()))
        lines.append(served)
        lines.append(f"Report: `{checked.folder.name}` in the server's reports folder.")
        return IngestView("\n".join(lines), _rejections(report.rejections), True)

    def _load(self, checked: Checked) -> tuple[bool, str]:
        """Write a checked catalog and reload the service, alone (the write lock):
        (whether it was written, what to tell)."""
        with self.lock.writing():
            try:
                load(checked, self.service.store, progress=False)
            except KgrecError as error:
                return False, _message(error)
            try:
                self.service.reload()
            except KgrecError as error:
                return True, f"**The service could not reload:** {_message(error)}"
            self._item_text = None
        return True, "The service was reloaded: new items and users are served now, with no retraining."

    # --- the model ---------------------------------------------------------------------

    def model_info(self) -> tuple[str, pd.DataFrame, str | None]:
        """A summary of the loaded model, its evaluation table (if any) and its training
        curve picture (a path, if any)."""
        folder = Path(self.service.model_dir)
        lines = [f"**Model:** {escape(folder.name)}"]
        meta = _read_json(folder / META)
        if isinstance(meta, dict):
            settings = meta.get("train_settings") or {}
            shape = meta.get("model") or {}
            lines.append(f"- saved {escape(meta.get('saved_at', '?'))}; text model {escape(meta.get('text_model', '?'))}")
            lines.append(f"- {shape.get('dim', '?')} dimensions, {shape.get('layers', '?')} layers; trained on "
                         f"{shape.get('n_users', '?')} users, {shape.get('n_items', '?')} items, "
                         f"{shape.get('n_entities', '?')} entities")
            lines.append("- settings: " + escape(without_paths(", ".join(f"{k}={v}" for k, v in settings.items()))))
        curve = getattr(self.service.model, "curve", None)
        if curve is not None and curve.records:
            lines.append(f"- {len(curve.records)} epochs on {curve.device} ({curve.mode}), "
                         f"best validation NDCG@20 {curve.best_ndcg:.4f} at epoch {curve.best_epoch}"
                         + (", stopped early" if curve.stopped_early else ""))
        with self.lock.reading():
            lines.append(f"- serving {len(self.service.item_ids):,} items, {len(self.service.user_index):,} users")
        table = evaluation_table(folder)
        if table.empty:
            lines.append("\nThis model has no evaluation results yet (they appear here once it is evaluated).")
        picture = folder / CURVE_PNG
        if not picture.is_file():
            lines.append("\nThis model has no training curve picture.")
        return "\n".join(lines), table, str(picture) if picture.is_file() else None


def evaluation_table(folder: Path) -> pd.DataFrame:
    """Rows of every ``kgrec evaluate --json`` result in ``folder`` (JSON files with a
    protocol and a summary)."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        raw = _read_json(path)
        if not isinstance(raw, dict) or "protocol" not in raw or not isinstance(raw.get("summary"), list):
            continue
        k = raw.get("k", 20)
        for entry in raw["summary"]:
            rows.append({
                "protocol": raw["protocol"],
                "recommender": entry.get("recommender"),
                "condition": entry.get("condition"),
                "Recall@K": _mean_std(entry, f"recall@{k}"),
                "NDCG@K": _mean_std(entry, f"ndcg@{k}"),
                "K": k,
                "seeds": entry.get("seeds"),
                "file": path.name,
            })
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS)


def _mean_std(entry: Mapping[str, object], metric: str) -> str:
    mean, std = entry.get(f"{metric}_mean"), entry.get(f"{metric}_std")
    if not isinstance(mean, (int, float)):
        return ""
    return f"{mean:.4f} ± {std:.4f}" if isinstance(std, (int, float)) else f"{mean:.4f}"


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _rejections(rejections: Sequence[object], limit: int = 1_000) -> pd.DataFrame:
    rows = [(r.file, r.line, r.field or "", r.reason, r.message, _shorten(r.raw, 200)) for r in list(rejections)[:limit]]
    return pd.DataFrame(rows, columns=REJECTION_COLUMNS)


def _link(value: str) -> tuple[str, str]:
    relation, sep, entity = str(value).partition("|")
    canonical = relation_type(relation)
    if not sep or canonical is None or not entity:
        raise KgrecError(f"unknown link {value!r}: pick links from the list")
    return canonical, entity


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _sorted_ids(ids) -> list[str]:  # type: ignore[no-untyped-def]
    """Numeric ids in numeric order, then the others."""
    ids = [str(i) for i in ids]
    return sorted(ids, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


def _message(error: KgrecError) -> str:
    """A refused action's sentence for the page; a missing or wrong token says where to give it."""
    text = escape(without_paths(error))
    if isinstance(error, AccessDenied) and error.status == 401:
        text += ": give the write token in the field above the buttons."
    return text


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


__all__ = ["UiActions", "Recommendations", "PathView", "IngestView", "ReadWriteLock", "MAX_DESCRIPTION"]
