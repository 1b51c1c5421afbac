"""Ingest: validate a catalog, keep rejected rows aside, then load the rest into a store.

Nothing is written before validation has finished. Under ``strict`` any rejection stops
the ingest before the store is touched. :func:`check` (validate, report) and :func:`load`
(write) are separate steps, so a server validates an upload while it keeps answering
readers and holds its write lock only to load; :func:`ingest` does both. With
``settings.pseudonymize`` (``KGREC_PSEUDONYMIZE=1``) every ingest pseudonymises user ids,
whichever door the catalog came through. A load interrupted half-way (a lost connection)
is completed by running the same ingest again, since loads are idempotent merges.

A catalog folder (:func:`ingest_folder`, ``kgrec ingest --catalog``) has its interactions
streamed: read and validated in chunks (:func:`kgrec.kg.reader.read_table_chunks`), the rows
that pass kept as compact arrays (:class:`Interactions`: user and item codes, rating,
timestamp; about 30 bytes a row against ~1 kB as strings in frames), repeated pairs
across chunks rejected on those arrays, then written in chunks sorted by user
(``GraphStore.load_stream``). Validation still ends before anything is written, so
``--strict`` and the report work as for a catalog in memory.

The load target is any :class:`~kgrec.kg.store.base.LoadTarget`: a graph store, or
Neo4j's offline importer into an empty database (``kgrec ingest --bulk``,
:mod:`kgrec.kg.store.neo4j_import`), which gets the same validated deltas.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import ValidationFailed
from kgrec.kg.graph import GraphDelta, RelKey
from kgrec.kg.identifiers import INTERACTED, ITEM, USER
from kgrec.kg.pseudonymize import pseudonym, pseudonymize_users
from kgrec.kg.reader import LINE, TABLES, read_catalog, read_table_chunks
from kgrec.kg.report import IngestReport, Rejection
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import LoadTarget
from kgrec.kg.to_graph import catalog_to_delta
from kgrec.kg.validate import ExistingIds, reject_repeats, validate, validate_interactions

PRIVATE_TABLES = ("users", "interactions")
WRITE_ROWS = 500_000
"""Interactions per chunk handed to the store in a streamed load."""


@dataclass
class Interactions:
    """Validated interactions as compact arrays: ``user``/``item`` codes into ``user_ids``/
    ``item_ids``, ``rating`` and ``timestamp`` (NaN = absent), sorted by user."""

    user_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    rating: np.ndarray = field(default_factory=lambda: np.zeros(0))
    timestamp: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.user)

    def frames(self, rows: int | None = None) -> Iterator[pd.DataFrame]:
        """``src``, ``dst``, ``rating``, ``ts`` frames of about ``rows`` (default
        :data:`WRITE_ROWS`) rows, a user's interactions in one frame."""
        rows = rows or WRITE_ROWS
        users, items = np.asarray(self.user_ids, dtype=object), np.asarray(self.item_ids, dtype=object)
        bounds = np.flatnonzero(np.diff(self.user)) + 1
        cuts = [0, *bounds[np.searchsorted(bounds, np.arange(rows, len(self), rows))].tolist(), len(self)]
        for start, end in zip(cuts, cuts[1:]):
            if end > start:
                yield pd.DataFrame({"src": users[self.user[start:end]], "dst": items[self.item[start:end]],
                                    "rating": self.rating[start:end], "ts": self.timestamp[start:end]})


@dataclass
class Checked:
    """A validated catalog, ready to load; its report is already saved."""

    clean: Catalog
    report: IngestReport
    folder: Path
    report_path: Path
    quarantine_path: Path
    started: float
    streamed: Interactions | None = None
    """A streamed table's interactions (``clean.interactions`` is then empty)."""


@dataclass
class IngestResult:
    report: IngestReport
    report_path: Path
    quarantine_path: Path
    seconds: float


def ingest(
    catalog: Catalog,
    store: LoadTarget,
    settings: Settings,
    files: dict[str, str] | None = None,
    parse_rejections: Sequence[Rejection] = (),
    strict: bool = False,
    pseudonymize: bool = False,
    progress: bool = True,
) -> IngestResult:
    checked = check(catalog, store, settings, files, parse_rejections, pseudonymize)
    return _load_unless_strict(checked, store, strict, progress)


def ingest_folder(folder: Path, store: LoadTarget, settings: Settings, strict: bool = False,
                  pseudonymize: bool = False, progress: bool = True) -> IngestResult:
    """:func:`ingest` of a catalog folder, its interactions streamed (see the module docstring)."""
    catalog, files, rejections = read_catalog(folder, streamed=("interactions",))
    checked = check(catalog, store, settings, files, rejections, pseudonymize, stream=folder / files["interactions"])
    del catalog  # the load needs the checked copy only: free the rows as read before it runs
    return _load_unless_strict(checked, store, strict, progress)


def _load_unless_strict(checked: Checked, store: LoadTarget, strict: bool, progress: bool) -> IngestResult:
    """:func:`load` the checked catalog; with ``strict``, nothing at all if a row was rejected."""
    if strict and checked.report.rejected_total:
        raise ValidationFailed(
            f"--strict: {checked.report.rejected_total:,} row(s) rejected, nothing was written. "
            f"First: {checked.report.rejections[0].describe()}. All of them: {checked.quarantine_path}"
        )
    return load(checked, store, progress)


def check(
    catalog: Catalog,
    store: LoadTarget,
    settings: Settings,
    files: dict[str, str] | None = None,
    parse_rejections: Sequence[Rejection] = (),
    pseudonymize: bool = False,
    stream: Path | None = None,
) -> Checked:
    """Validate (reading the store only for ids it already holds) and save the report;
    ``stream``: the interactions file, read in chunks (``catalog.interactions`` is empty)."""
    started = time.perf_counter()
    settings.check_writable(settings.reports_dir)
    report = IngestReport(catalog.name)
    private = _private_files(files or {}) if pseudonymize or settings.pseudonymize else set()
    for rejection in _withheld(parse_rejections, private):
        report.reject(rejection)
    if private:
        catalog = pseudonymize_users(catalog, settings.pseudonym_key)
    clean, report = validate(catalog, store.existing_ids, settings.rating_range, files, report)
    streamed = None
    if stream is not None:
        key = settings.pseudonym_key if private else None
        streamed = _streamed_interactions(stream, clean, store.existing_ids, settings.rating_range, report, private, key)
        report.accepted[stream.name] = len(streamed)
        report.rejections.sort(key=lambda r: (r.file, r.line))
    folder = settings.reports_dir / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{_safe(catalog.name)}"
    report_path, quarantine_path = report.save(folder)
    return Checked(clean, report, folder, report_path, quarantine_path, started, streamed)


def load(checked: Checked, store: LoadTarget, progress: bool = True) -> IngestResult:
    """Write a checked catalog (idempotent merges) and complete its report: what was
    written, and how many of those rows were new, updated or already there as given."""
    report = checked.report
    delta = catalog_to_delta(checked.clean)
    streamed = checked.streamed or Interactions()
    if len(streamed):
        users = delta.nodes[USER]
        extra = sorted(set(streamed.user_ids) - set(users["id"]))
        delta.nodes[USER] = pd.concat([users, pd.DataFrame({"id": extra})], ignore_index=True) if extra else users
    total = delta.node_count() + delta.rel_count() + len(streamed)
    key = RelKey(INTERACTED, USER, ITEM)

    def chunks() -> Iterator[GraphDelta]:
        return (GraphDelta(rels={key: frame}) for frame in streamed.frames())

    report.changes = _changes(store, delta, chunks())
    with tqdm(total=total, unit="rows", desc=f"loading into {store.kind}", disable=not progress, mininterval=0.5) as bar:
        store.load_stream(itertools.chain([delta], chunks()), bar.update)
    report.written = {label: len(frame) for label, frame in delta.nodes.items()}
    for rel, frame in delta.rels.items():
        report.written[rel.type] = report.written.get(rel.type, 0) + len(frame)
    if len(streamed):
        report.written[INTERACTED] = report.written.get(INTERACTED, 0) + len(streamed)
    report.save(checked.folder)
    return IngestResult(report, checked.report_path, checked.quarantine_path, time.perf_counter() - checked.started)


def _changes(store: LoadTarget, delta: GraphDelta, chunks: Iterator[GraphDelta]) -> dict[str, dict[str, int]]:
    """Per node label and relationship type, how many of the rows about to be written are
    new, updated or already stored as given (read before the write)."""
    changes = store.compare(delta)
    for chunk in chunks:
        for part, counted in store.compare(chunk).items():
            changes[part] = changes[part].plus(counted) if part in changes else counted
    return {part: counted._asdict() for part, counted in changes.items() if any(counted)}


def _streamed_interactions(path: Path, clean: Catalog, existing: ExistingIds, rating_range: tuple[float, float],
                           report: IngestReport, private: set[str], key: str | None) -> Interactions:
    """Validate the interactions file chunk by chunk into compact arrays, then reject the
    pairs repeated across chunks (the latest row of a pair is kept)."""
    item_ids = set(clean.items["item_id"])
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    parts: list[pd.DataFrame] = []
    for table in read_table_chunks(path, TABLES["interactions"][0]):
        for rejection in _withheld(table.rejections, private):
            report.reject(rejection)
        frame = table.frame
        if key is not None:
            filled = frame["user_id"].where(frame["user_id"].notna(), "").astype(str)
            frame = frame.assign(user_id=[pseudonym(u, key) if u.strip() else "" for u in filled])
        rows = validate_interactions(frame, table.file, item_ids, existing, rating_range, report)
        parts.append(pd.DataFrame({
            "user": np.fromiter((users.setdefault(u, len(users)) for u in rows["user_id"]), np.int32, len(rows)),
            "item": np.fromiter((items.setdefault(i, len(items)) for i in rows["item_id"]), np.int32, len(rows)),
            "rating": rows["rating"].to_numpy(float), "timestamp": rows["timestamp"].to_numpy(float),
            LINE: rows[LINE].to_numpy(np.int64),
        }))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"user": np.zeros(0, np.int32), "item": np.zeros(0, np.int32), "rating": [], "timestamp": [], LINE: []})
    del parts
    user_ids, item_ids_by_code = list(users), list(items)
    repeated = _repeats(rows, user_ids, item_ids_by_code, path.name, report)
    rows = rows[~repeated]
    order = np.argsort(rows["user"].to_numpy(), kind="stable")
    return Interactions(user_ids, item_ids_by_code, rows["user"].to_numpy()[order], rows["item"].to_numpy()[order],
                        rows["rating"].to_numpy()[order], rows["timestamp"].to_numpy()[order])


def _repeats(rows: pd.DataFrame, user_ids: list[str], item_ids: list[str], file: str, report: IngestReport) -> np.ndarray:
    """:func:`kgrec.kg.validate.reject_repeats`, a rejected row shown by its ids, rating and timestamp."""
    def shown(repeated: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"user_id": np.asarray(user_ids, dtype=object)[repeated["user"].to_numpy()],
                             "item_id": np.asarray(item_ids, dtype=object)[repeated["item"].to_numpy()],
                             "rating": repeated["rating"].to_numpy(), "timestamp": repeated["timestamp"].to_numpy(),
                             LINE: repeated[LINE].to_numpy()})
    return reject_repeats(rows, file, report, shown)


def _private_files(files: dict[str, str]) -> set[str]:
    return {files.get(t, f"{t}.csv") for t in PRIVATE_TABLES}


def _withheld(rejections: Sequence[Rejection], private: set[str]) -> list[Rejection]:
    """Unparsed rows of the users and interactions files may hold raw user ids: keep only where they were."""
    return [Rejection(r.file, r.line, r.field, r.reason, r.message, "(withheld: user ids are pseudonymised)")
            if r.file in private else r for r in rejections]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "catalog"
