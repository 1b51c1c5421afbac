"""What an ingest accepted and rejected: counted by file and reason, the rejected rows kept
with the reason (the first :data:`~kgrec.kg.limits.MAX_REJECTED`; the rest counted), written as
JSON plus a quarantine CSV, and printed as a short summary."""
from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from kgrec.kg.limits import MAX_RAW, MAX_REJECTED

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, CSV injection)."""


@dataclass(frozen=True)
class Rejection:
    """One rejected row: ``line`` is the 1-based line in ``file`` (the header is line 1)."""

    file: str
    line: int
    field: str | None
    reason: str
    message: str
    raw: str = ""

    def describe(self) -> str:
        where = f"{self.file}, line {self.line}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.message}"


@dataclass
class IngestReport:
    catalog: str
    accepted: dict[str, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    """Nodes per label and relationships per type written to the store (empty when nothing was)."""
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Of those, per label and type: how many were ``new``, ``updated`` or ``unchanged``
    (there already as given: re-ingesting an unchanged catalog writes nothing new)."""
    left_out: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Rejected rows beyond the first MAX_REJECTED, counted by (file, reason) only."""

    def reject(self, rejection: Rejection) -> None:
        if len(self.rejections) >= MAX_REJECTED:
            self.left_out[(rejection.file, rejection.reason)] += 1
            return
        if len(rejection.raw) > MAX_RAW:
            rejection = replace(rejection, raw=rejection.raw[: MAX_RAW - 1] + "…")
        self.rejections.append(rejection)

    @property
    def room(self) -> int:
        """How many more rejected rows are kept in full."""
        return max(0, MAX_REJECTED - len(self.rejections))

    def count_left_out(self, file: str, reason: str, rows: int) -> None:
        """Rows rejected beyond :attr:`room`: counted, not kept."""
        self.left_out[(file, reason)] += rows

    @property
    def rejected_total(self) -> int:
        return len(self.rejections) + sum(self.left_out.values())

    @property
    def rejected(self) -> dict[str, dict[str, int]]:
        """Counts of rejected rows by file, then by reason (those left out included)."""
        counts: dict[str, Counter[str]] = {}
        for r in self.rejections:
            counts.setdefault(r.file, Counter())[r.reason] += 1
        for (file, reason), n in self.left_out.items():
            counts.setdefault(file, Counter())[reason] += n
        return {f: dict(sorted(c.items())) for f, c in sorted(counts.items())}

    def to_dict(self, examples: int = 20) -> dict[str, object]:
        return {
            "catalog": self.catalog,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_total": self.rejected_total,
            "rejected_left_out": sum(self.left_out.values()),
            "examples": [r.describe() for r in self.rejections[:examples]],
            "written": self.written,
            "changes": self.changes,
        }

    def save(self, folder: Path) -> tuple[Path, Path]:
        """Write ``report.json`` and ``rejected.csv`` (every rejected row with its reason)."""
        folder.mkdir(parents=True, exist_ok=True)
        report_path, quarantine_path = folder / "report.json", folder / "rejected.csv"
        report_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        with quarantine_path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["file", "line", "field", "reason", "message", "raw"])
            for r in self.rejections:
                writer.writerow([_neutralised(c) for c in (r.file, r.line, r.field or "", r.reason, r.message, r.raw)])
            if self.left_out:
                writer.writerow(["", "", "", "left_out", f"{sum(self.left_out.values()):,} more rejected rows are "
                                 f"counted in report.json but not listed here (the first {MAX_REJECTED:,} are)", ""])
        return report_path, quarantine_path

    def render(self, examples: int = 10) -> str:
        lines = ["accepted: " + ", ".join(f"{n:,} {f}" for f, n in self.accepted.items())]
        if self.changes:
            lines.append("in the store: " + "; ".join(
                f"{part} {c.get('new', 0):,} new, {c.get('updated', 0):,} updated, {c.get('unchanged', 0):,} unchanged"
                for part, c in self.changes.items()))
        if not self.rejected_total:
            lines.append("rejected: none")
        else:
            lines.append(f"rejected: {self.rejected_total:,} rows")
            for file, reasons in self.rejected.items():
                lines.append(f"  {file}: " + ", ".join(f"{n:,} {reason}" for reason, n in reasons.items()))
            lines.extend(f"  - {r.describe()}" for r in self.rejections[:examples])
            if self.rejected_total > examples:
                lines.append(f"  ... and {self.rejected_total - examples:,} more in the quarantine file"
                             + (f" ({sum(self.left_out.values()):,} of them counted only)" if self.left_out else ""))
        return "\n".join(lines)


def _neutralised(cell: object) -> str:
    """A ``rejected.csv`` cell, with a ``'`` in front when a spreadsheet opening the file
    would run it as a formula (``=cmd|...``, ``@SUM(...)``, ``+...``): the quarantine holds
    rows from untrusted files, and people open it in spreadsheets."""
    text = str(cell)
    return "'" + text if text.startswith(FORMULA_START) else text
