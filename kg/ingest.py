"""Ingest: validate a catalog, keep rejected rows aside, then load the rest into a store.

Nothing is written before validation has finished. Under ``strict`` any rejection stops
the ingest before the store is touched. :func:`check` (validate, report) and :func:`load`
(write) are separate steps, so a server validates an upload while it keeps answering
readers and holds its write lock only to load; :func:`ingest` does both. With
``settings.pseudonymize`` (``KGREC_PSEUDONYMIZE=1``) every ingest pseudonymises user ids,
whichever door the catalog came through. A load interrupted half-way (a lost connection)
is completed by running the same ingest again, since loads are idempotent merges.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from kg.catalog import Catalog
from kg.errors import ValidationFailed
from kg.pseudonymize import pseudonymize_users
from kg.report import IngestReport, Rejection
from kg.settings import Settings
from kg.store.base import GraphStore
from kg.to_graph import catalog_to_delta
from kg.validate import validate

PRIVATE_TABLES = ("users", "interactions")


@dataclass
class Checked:
    """A validated catalog, ready to load; its report is already saved."""

    clean: Catalog
    report: IngestReport
    folder: Path
    report_path: Path
    quarantine_path: Path
    started: float


@dataclass
class IngestResult:
    report: IngestReport
    report_path: Path
    quarantine_path: Path
    seconds: float


def ingest(
    catalog: Catalog,
    store: GraphStore,
    settings: Settings,
    files: dict[str, str] | None = None,
    parse_rejections: Sequence[Rejection] = (),
    strict: bool = False,
    pseudonymize: bool = False,
    progress: bool = True,
) -> IngestResult:
    checked = check(catalog, store, settings, files, parse_rejections, pseudonymize)
    if strict and checked.report.rejected_total:
        raise ValidationFailed(
            f"--strict: {checked.report.rejected_total:,} row(s) rejected, nothing was written. "
            f"First: {checked.report.rejections[0].describe()}. All of them: {checked.quarantine_path}"
        )
    return load(checked, store, progress)


def check(
    catalog: Catalog,
    store: GraphStore,
    settings: Settings,
    files: dict[str, str] | None = None,
    parse_rejections: Sequence[Rejection] = (),
    pseudonymize: bool = False,
) -> Checked:
    """Validate (reading the store only for ids it already holds) and save the report."""
    started = time.perf_counter()
    settings.check_writable(settings.reports_dir)
    report = IngestReport(catalog.name)
    for rejection in parse_rejections:
        report.reject(rejection)
    if pseudonymize or settings.pseudonymize:
        catalog = pseudonymize_users(catalog, settings.pseudonym_key)
        _withhold_raw_user_rows(report, files or {})
    clean, report = validate(catalog, store.existing_ids, settings.rating_range, files, report)
    folder = settings.reports_dir / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{_safe(catalog.name)}"
    report_path, quarantine_path = report.save(folder)
    return Checked(clean, report, folder, report_path, quarantine_path, started)


def load(checked: Checked, store: GraphStore, progress: bool = True) -> IngestResult:
    """Write a checked catalog (idempotent merges) and complete its report: what was
    written, and how many of those rows were new, updated or already there as given."""
    report = checked.report
    delta = catalog_to_delta(checked.clean)
    report.changes = {part: changes._asdict() for part, changes in store.compare(delta).items() if any(changes)}
    total = delta.node_count() + delta.rel_count()
    with tqdm(total=total, unit="rows", desc=f"loading into {store.kind}", disable=not progress, mininterval=0.5) as bar:
        store.load(delta, bar.update)
    report.written = {label: len(frame) for label, frame in delta.nodes.items()}
    for key, frame in delta.rels.items():
        report.written[key.type] = report.written.get(key.type, 0) + len(frame)
    report.save(checked.folder)
    return IngestResult(report, checked.report_path, checked.quarantine_path, time.perf_counter() - checked.started)


def _withhold_raw_user_rows(report: IngestReport, files: dict[str, str]) -> None:
    """Unparsed rows of the users and interactions files may hold raw user ids: keep only where they were."""
    private = {files.get(t, f"{t}.csv") for t in PRIVATE_TABLES}
    report.rejections = [
        Rejection(r.file, r.line, r.field, r.reason, r.message, "(withheld: user ids are pseudonymised)") if r.file in private else r
        for r in report.rejections
    ]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "catalog"
