"""Read the tables of a catalog folder (CSV or JSONL) row by row, so that one bad row is
rejected with its line number and the rest are kept.

Bad encodings are found per line; a ragged row or a broken quote rejects that row only:
when an unclosed quote swallows the lines after it, only its first line is rejected and
reading starts again on the next line. A file over :mod:`kgrec.kg.limits`' size or row limit is
refused before it is parsed; a field over its length limit rejects its row.

:func:`read_table_chunks` reads a table in chunks of bounded size instead (the
interactions of ``kgrec ingest --catalog``, which may be tens of millions of rows): the
same rows and rejections, line numbers counted through the file, with no size limit since
the whole table is never in memory. Chunks end at a line end outside any quoted field (an
even number of ``"`` so far), so a quoted field spanning lines stays in one chunk.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import CatalogError
from kgrec.kg.limits import MAX_FIELD, MAX_ROWS, MAX_TABLE_BYTES

CHUNK_BYTES = 32 * 1024**2
"""About how much of a table :func:`read_table_chunks` holds at once (~1.2M interactions)."""
from kgrec.kg.report import Rejection

LINE = "_line"
"""Column holding each row's 1-based line number in its file."""


@dataclass
class Table:
    """The rows of one file that parsed, as strings, with their line numbers in ``_line``."""

    file: str
    frame: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)


def find_table(folder: Path, name: str) -> Path | None:
    """``name.csv`` or ``name.jsonl`` in ``folder``; both present is an error."""
    found = [p for p in (folder / f"{name}.csv", folder / f"{name}.jsonl") if p.is_file()]
    if len(found) > 1:
        raise CatalogError(f"{folder} has both {name}.csv and {name}.jsonl: keep one")
    return found[0] if found else None


def read_table(path: Path, required: Sequence[str]) -> Table:
    """Read one table; file-level problems (empty file, header without a required column)
    raise CatalogError, row-level problems become rejections."""
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise CatalogError(f"{path.name} has {size / 1024**2:,.0f} MB; a table may have at most "
                           f"{MAX_TABLE_BYTES // 1024**2:,} MB: split the catalog")
    data = path.read_bytes()
    if not data.strip():
        raise CatalogError(f"{path.name} is empty: expected a header row with {', '.join(required)}")
    if data.count(b"\n") > MAX_ROWS:
        raise CatalogError(f"{path.name} has more than {MAX_ROWS:,} rows, the most a table may have: split the catalog")
    reader = _read_jsonl if path.suffix == ".jsonl" else _read_csv
    return reader(path.name, data, required)


def read_table_chunks(path: Path, required: Sequence[str], chunk_bytes: int | None = None) -> Iterator[Table]:
    """The table as :class:`Table` chunks of about ``chunk_bytes`` (default
    :data:`CHUNK_BYTES`) each (see the module docstring); file-level problems raise
    CatalogError from the first chunk."""
    header: list[str] | None = None
    first = 1
    reader = _read_jsonl if path.suffix == ".jsonl" else _read_csv
    for block in _blocks(path, chunk_bytes or CHUNK_BYTES):
        if header is None and not block.strip():
            raise CatalogError(f"{path.name} is empty: expected a header row with {', '.join(required)}")
        table = reader(path.name, block, required, header, first)
        header = [c for c in table.frame.columns if c != LINE]
        first += len(block.splitlines())
        yield table
    if header is None:
        raise CatalogError(f"{path.name} is empty: expected a header row with {', '.join(required)}")


def _blocks(path: Path, size: int) -> Iterator[bytes]:
    """The file's bytes in pieces of about ``size``, each ending at a line end outside any
    quoted field (a piece that never gets there, a broken quote, is cut at four times ``size``)."""
    with path.open("rb") as handle:
        pending = b""
        quotes = 0
        while True:
            data = handle.read(size)
            if not data:
                break
            pending += data
            quotes += data.count(b'"')
            cut = _even_cut(pending, quotes) if len(pending) < 4 * size else pending.rfind(b"\n") + 1
            if cut > 0:
                yield pending[:cut]
                quotes -= pending[:cut].count(b'"')
                pending = pending[cut:]
        if pending:
            yield pending


def _even_cut(data: bytes, quotes: int) -> int:
    """The end of the last line of ``data`` (holding ``quotes`` quote characters) after
    which an even number of quotes has been seen; 0 when there is none."""
    end = len(data)
    while True:
        cut = data.rfind(b"\n", 0, end) + 1
        if cut == 0:
            return 0
        if (quotes - data.count(b'"', cut)) % 2 == 0:
            return cut
        end = cut - 1


def _decoded_lines(file: str, data: bytes, rejections: list[Rejection], first: int = 1) -> list[tuple[int, str]]:
    if first == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(data.splitlines(keepends=True), start=first):
        try:
            lines.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as error:
            rejections.append(Rejection(
                file, number, None, "not_utf8",
                f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1}); save the file as UTF-8",
                raw.decode("utf-8", "replace").rstrip("\r\n"),
            ))
    return lines


class _Feed:
    """Feeds decoded lines to csv.reader and remembers where each record started."""

    def __init__(self, lines: list[tuple[int, str]], start: int) -> None:
        self.lines, self.next = lines, start

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.next >= len(self.lines):
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1][1]


def _records(file: str, lines: list[tuple[int, str]], rejections: list[Rejection],
             width: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) per CSV record, recovering from broken quoting; ``width``
    is the header's when it was read before these lines."""
    csv.field_size_limit(MAX_FIELD)
    position = 0
    while position < len(lines):
        feed = _Feed(lines, position)
        reader = csv.reader(feed, strict=True)
        restart = None
        while True:
            start = feed.next
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                restart = start
                message = (f"a field is longer than {MAX_FIELD:,} characters" if "field limit" in str(error)
                           else f"broken quoting ({error})")
                break
            if not fields or fields == [""] and width != 1:
                continue
            spans = feed.next - start
            if width is None:
                width = len(fields)
            elif len(fields) != width and spans > 1:
                restart = start
                message = f"broken quoting: an unclosed quote joins lines {lines[start][0]}-{lines[feed.next - 1][0]}"
                break
            yield lines[start][0], fields
        number, text = lines[restart]
        reason = "field_too_long" if message.startswith("a field is longer") else "broken_quoting"
        rejections.append(Rejection(file, number, None, reason, message, text.rstrip("\r\n")))
        position = restart + 1


def _read_csv(file: str, data: bytes, required: Sequence[str], header: list[str] | None = None, first: int = 1) -> Table:
    """The rows of ``data``; ``header`` and ``first`` (its first line's number) for a chunk
    after the first."""
    rejections: list[Rejection] = []
    lines = _decoded_lines(file, data, rejections, first)
    records = _records(file, lines, rejections, width=None if header is None else len(header))
    if header is None:
        try:
            header_line, header = next(records)
        except StopIteration:
            raise CatalogError(f"{file} has no readable header row") from None
        header = [h.strip() for h in header]
        _check_header(file, header, required)
    rows: list[list[str]] = []
    numbers: list[int] = []
    for number, fields in records:
        if len(fields) != len(header):
            rejections.append(Rejection(
                file, number, None, "malformed_row",
                f"has {len(fields)} fields, the header has {len(header)}", ",".join(fields),
            ))
            continue
        rows.append(fields)
        numbers.append(number)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame[LINE] = numbers
    rejections.sort(key=lambda r: r.line)
    return Table(file, frame, rejections)


def _check_header(file: str, header: Sequence[str], required: Sequence[str]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise CatalogError(
            f"{file}: missing required column(s) {', '.join(missing)} (header has: {', '.join(header)})"
        )
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise CatalogError(f"{file}: column {position} of the header has no name")
        if name in seen:
            raise CatalogError(f"{file}: column '{name}' appears twice in the header")
        if name == LINE:
            raise CatalogError(f"{file}: column name '{LINE}' is reserved")
        seen.add(name)


def _read_jsonl(file: str, data: bytes, required: Sequence[str], header: list[str] | None = None,
                first: int = 1) -> Table:
    rejections: list[Rejection] = []
    records: list[dict[str, str]] = []
    numbers: list[int] = []
    columns: dict[str, None] = {c: None for c in (header or required)}
    for number, text in _decoded_lines(file, data, rejections, first):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            rejections.append(Rejection(file, number, None, "invalid_json", f"not valid JSON ({error.msg})", text.strip()))
            continue
        except (RecursionError, ValueError):  # nested past the recursion limit, or a number of over 4,300 digits
            rejections.append(Rejection(file, number, None, "invalid_json",
                                        "a value nested too deep or a number too long to read", text.strip()))
            continue
        if not isinstance(value, dict):
            rejections.append(Rejection(file, number, None, "invalid_json", "a line must be a JSON object", text.strip()))
            continue
        row = {str(k): _json_text(v) for k, v in value.items()}
        unencodable = next((k for k, v in row.items() if not _encodable(k + v)), None)
        if unencodable is not None:
            rejections.append(Rejection(file, number, unencodable, "not_utf8",
                                        "holds a lone surrogate (such as \\udcff), which is not Unicode text", text.strip()))
            continue
        long = next((k for k, v in row.items() if len(v) > MAX_FIELD), None)
        if long is not None:
            rejections.append(Rejection(file, number, long, "field_too_long",
                                        f"{long} is longer than {MAX_FIELD:,} characters", text.strip()))
            continue
        columns.update(dict.fromkeys(row))
        records.append(row)
        numbers.append(number)
    _check_header(file, list(columns), required)
    frame = pd.DataFrame.from_records(records, columns=list(columns)) if records else pd.DataFrame(columns=list(columns))
    frame = frame.astype(object).where(frame.notna(), "")
    frame[LINE] = numbers
    return Table(file, frame, rejections)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


TABLES: dict[str, tuple[tuple[str, ...], bool]] = {
    "items": (("item_id", "title"), True),
    "interactions": (("user_id", "item_id"), True),
    "users": (("user_id",), False),
    "triples": (("head", "relation", "tail"), False),
    "entities": (("entity_id",), False),
}
"""Table name -> (required columns, whether the file is required)."""


def read_catalog(folder: Path, streamed: Sequence[str] = ()) -> tuple[Catalog, dict[str, str], list[Rejection]]:
    """Read a catalog folder: the catalog (rows keep their ``_line``), the file name of each
    table, and the rows that could not be parsed. The ``streamed`` tables are only found
    (their file names given), left empty, for :func:`read_table_chunks`."""
    if not folder.is_dir():
        raise CatalogError(f"catalog folder {folder} does not exist")
    frames: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    rejections: list[Rejection] = []
    for name, (required, needed) in TABLES.items():
        path = find_table(folder, name)
        if path is None:
            if needed:
                raise CatalogError(f"{folder} has no {name}.csv (or {name}.jsonl); it is required, header row at least")
            continue
        if name in streamed:
            files[name] = path.name
            continue
        table = read_table(path, required)
        frames[name], files[name] = table.frame, table.file
        rejections.extend(table.rejections)
    return Catalog(name=folder.name, **frames), files, rejections
