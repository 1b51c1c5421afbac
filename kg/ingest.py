"""Ingest: validate a catalog, keep rejected rows aside, then load the rest into a store.

Nothing is written before validation has finished. Under ``strict`` any rejection stops
the ingest before the store is touched. A load interrupted half-way (a lost connection)
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
    started = time.perf_counter()
    settings.check_writable(settings.reports_dir)
    report = IngestReport(catalog.name, rejections=list(parse_rejections))
    if pseudonymize:
        catalog = pseudonymize_users(catalog, settings.pseudonym_key)
        _withhold_raw_user_rows(report, files or {})
    clean, report = validate(catalog, store.existing_ids, settings.rating_range, files, report)
    folder = settings.reports_dir / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{_safe(catalog.name)}"
    report_path, quarantine_path = report.save(folder)
    if strict and report.rejections:
        raise ValidationFailed(
            f"--strict: {len(report.rejections):,} row(s) rejected, nothing was written. "
            f"First: {report.rejections[0].describe()}. All of them: {quarantine_path}"
        )
    delta = catalog_to_delta(clean)
    total = delta.node_count() + delta.rel_count()
    with tqdm(total=total, unit="rows", desc=f"loading into {store.kind}", disable=not progress, mininterval=0.5) as bar:
        store.load(delta, bar.update)
    report.written = {label: len(frame) for label, frame in delta.nodes.items()}
    for key, frame in delta.rels.items():
        report.written[key.type] = report.written.get(key.type, 0) + len(frame)
    report.save(folder)
    return IngestResult(report, report_path, quarantine_path, time.perf_counter() - started)


def _withhold_raw_user_rows(report: IngestReport, files: dict[str, str]) -> None:
    """Unparsed rows of the users and interactions files may hold raw user ids: keep only where they were."""
    private = {files.get(t, f"{t}.csv") for t in PRIVATE_TABLES}
    report.rejections = [
        Rejection(r.file, r.line, r.field, r.reason, r.message, "(withheld: --pseudonymize-users)") if r.file in private else r
        for r in report.rejections
    ]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "catalog"
