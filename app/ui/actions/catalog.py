"""The Catalog tab's actions: upload catalog files, or add one item through a form (its
links picked from the graph's entities); then reload the service, so what was added is
served at once.

Validation reads the store only, so it runs under the shared lock while requests are
answered; loading and reloading take the lock alone (:class:`~kgrec.app.ui.lock.ReadWriteLock`).
Errors a user can cause come back as a sentence; nothing here lets an exception escape.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kgrec.app.auth import authorize
from kgrec.app.markup import escape
from kgrec.app.ui.actions.base import TabActions, message, shorten
from kgrec.app.ui.uploads import UploadError, staged_catalog
from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import NodeRef
from kgrec.kg.identifiers import ENTITY, ITEM
from kgrec.kg.ingest import Checked, check, load
from kgrec.kg.new_item import MAX_DESCRIPTION, one_item_catalog, parse_choice, parse_properties, resolve_link, same_item, text_lines
from kgrec.kg.reader import read_catalog

SMALL_TYPE = 100
"""Entity types with at most this many members (genres, ratings, languages) are offered
as a pick list in the add-item form."""
LINK_RESULTS = 50
REJECTION_COLUMNS = ["file", "line", "field", "reason", "message", "raw"]
CHANGE_NAMES = {ITEM: "items", "User": "users", ENTITY: "entities", "INTERACTED": "interactions",
                "HAS_ATTRIBUTE": "user attributes"}
"""How the ingest report's parts read (the other relationship types are the catalog's own)."""


@dataclass
class IngestView:
    markdown: str
    rejected: pd.DataFrame
    ok: bool


class CatalogActions(TabActions):
    # --- the add-item form's links ----------------------------------------------------

    def link_choices(self) -> list[tuple[str, str]]:
        """(label, "RELATION|entity id") for the named entities of small types that items
        link to: genres, years, ratings. Each with the relation items use most to reach it;
        entities known only by a code (``m.0bxtg``) are found by :meth:`link_search`."""
        index = self.entities()
        with self.lock.reading():
            names = self.service.names
        named = [p for p in index.relation if index.named[p]]
        per_type = pd.Series([index.types[p] for p in named], dtype=object).value_counts()
        out = []
        for position in named:
            if per_type[index.types[position]] > SMALL_TYPE:
                continue
            ref = NodeRef(ENTITY, index.ids[position])
            out.append((f"{names.kind(ref)}: {names.name(ref)}", f"{index.relation[position][0]}|{index.ids[position]}"))
        return sorted(out)

    def link_search(self, query: str, entity_type: str | None = None, limit: int = LINK_RESULTS) -> list[tuple[str, str]]:
        """(label, "RELATION|entity id") for the entities items link to that a search by
        name and type finds: "star wars" among directors gives "director: director of Star
        Wars", linked by DIRECTED_BY."""
        out, seen = [], {}
        for match in self.entities().search(query, entity_type, limit, linkable=True):
            label = f"{match.type}: {match.name}" if match.named else match.name
            seen[label] = seen.get(label, 0) + 1
            out.append((label if seen[label] == 1 else f"{label} ({seen[label]})", f"{match.relation}|{match.id}"))
        return out

    # --- upload ---------------------------------------------------------------------------

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
            return IngestView(f"**Nothing was ingested.** {message(error)}", _rejections([]), False)

    # --- add one item -------------------------------------------------------------------

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
        ``links``: ``RELATION|entity id`` values from :meth:`link_choices` or
        :meth:`link_search`; ``more_links``: ``RELATION = entity id or name`` lines (a name
        as the app shows it, e.g. ``DIRECTED_BY = director of Star Wars``); ``token``: the
        write token when the server has one. The same title and description as an item
        already there is refused (a second click on Add would make a twin)."""
        try:
            authorize(self.service.settings, token or None, write=True)
            catalog = self._one_item(title, description, item_id, properties, links, more_links)
        except KgrecError as error:
            return IngestView(f"**The item was not added.** {message(error)}", _rejections([]), False)
        view = self._ingest(catalog, None, [], strict=True)
        if view.ok:
            new_id = str(catalog.items["item_id"].iloc[0])
            view.markdown = f"**Added** *{escape(title.strip())}* as item {escape(new_id)}; it is served now.\n\n" + view.markdown
        return view

    def _one_item(self, title: str, description: str, item_id: str, properties: str, links: Sequence[str],
                  more_links: str) -> Catalog:
        index = self.entities()
        with self.lock.reading():
            twin = same_item(self.service.export.nodes.get(ITEM), title or "", description or "")
            if twin is not None and (title or "").strip():
                raise KgrecError(f"item {twin} already has this title and description, so it was not added twice; "
                                 "change the title or the description to add another item.")
            picked = [parse_choice(value) for value in links or ()]
            typed = [resolve_link(line, self.service.store, index.find) for line in text_lines(more_links)]
            return one_item_catalog(self.service.store, title, description, item_id, parse_properties(properties),
                                    picked + typed)

    # --- ingest and reload ----------------------------------------------------------------

    def _ingest(self, catalog: Catalog, files: dict[str, str] | None, rejections: list, strict: bool) -> IngestView:
        """Validate and report while readers are served (a shared lock: validation only
        reads the store), then take the write lock only to load and reload."""
        settings = self.service.settings
        try:
            with self.lock.reading():
                checked = check(catalog, self.service.store, settings, files, rejections)
        except KgrecError as error:
            return IngestView(f"**Nothing was ingested.** {message(error)}", _rejections([]), False)
        report = checked.report
        if strict and report.rejected_total:
            return IngestView(f"**Nothing was ingested** (strict): {report.rejected_total:,} row(s) rejected. First: "
                              f"{escape(report.rejections[0].describe())}", _rejections(report.rejections), False)
        accepted = sum(report.accepted.values())
        written, served = self._load(checked) if accepted else (True, "The store was not touched.")
        if not written:  # nothing to write: readers were not held back for a reload that changes nothing
            return IngestView(f"**Nothing was ingested.** {served}", _rejections(report.rejections), False)
        changed = sum(c.get("new", 0) + c.get("updated", 0) for c in report.changes.values())
        if accepted and not changed:
            headline = (f"**Nothing new:** the {accepted:,} valid row(s) are in the {settings.store} store already, "
                        "as given.")
        else:
            headline = (f"**{'Ingested' if accepted else 'Nothing valid to ingest'}** into the {settings.store} store"
                        + (": " + ", ".join(f"{f} {n:,} row(s)" for f, n in report.accepted.items() if n) if accepted
                           else "") + ".")
        lines = [headline]
        if report.changes:
            lines.append("**In the graph:** " + "; ".join(_change(part, counts) for part, counts in report.changes.items())
                         + ".")
        lines.append(f"**Rejected:** {report.rejected_total:,} row(s)" + ("." if not report.rejected_total else
                                                                          ", listed below (the first 1,000)."))
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
                return False, message(error)
            try:
                self.service.reload()
            except KgrecError as error:
                return True, f"**The service could not reload:** {message(error)}"
        return True, "The service was reloaded: new items and users are served now, with no retraining."


def _change(part: str, counts: dict[str, int]) -> str:
    name = CHANGE_NAMES.get(part, f"{escape(part)} links")
    return f"{name} {counts.get('new', 0):,} new, {counts.get('updated', 0):,} updated, {counts.get('unchanged', 0):,} unchanged"


def _rejections(rejections: Sequence[object], limit: int = 1_000) -> pd.DataFrame:
    rows = [(r.file, r.line, r.field or "", r.reason, r.message, shorten(r.raw, 200)) for r in list(rejections)[:limit]]
    return pd.DataFrame(rows, columns=REJECTION_COLUMNS)


__all__ = ["IngestView", "MAX_DESCRIPTION", "REJECTION_COLUMNS", "CatalogActions"]
