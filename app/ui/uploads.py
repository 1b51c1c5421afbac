"""Uploaded catalog files, staged as a catalog folder that :func:`kgrec.kg.reader.read_catalog` reads.

An upload is either the tables themselves (``items.csv``, ``interactions.csv``, ... or
``.jsonl``), or one zip of a catalog folder (the tables at its top, or in one folder
inside it). Every file and zip member is held to :mod:`kgrec.kg.limits` (size as sent, size
expanded, compression ratio, member count) from the zip's directory before anything is
expanded, and expanding stops at the declared size; a member's path is never used to
write outside the staging folder (only its base name is kept). Messages name the uploaded
file, never a path on the server.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kgrec.kg.errors import KgrecError
from kgrec.kg.limits import MAX_EXPANDED_BYTES, MAX_MEMBERS, MAX_RATIO, MAX_TABLE_BYTES, MAX_UPLOAD_BYTES, RATIO_FROM_BYTES
from kgrec.kg.reader import TABLES

SUFFIXES = (".csv", ".jsonl")
MB = 1024**2


class UploadError(KgrecError):
    """The upload is not a catalog: the message says what to send instead."""


@contextmanager
def staged_catalog(paths: Sequence[Path]) -> Iterator[Path]:
    """A temporary catalog folder holding the uploaded tables (removed afterwards)."""
    if not paths:
        raise UploadError("no files were uploaded: send items.csv and interactions.csv (and users.csv, "
                          "triples.csv, entities.csv if you have them), or one zip of the catalog folder.")
    scratch = Path(tempfile.mkdtemp(prefix="kgrec-upload-"))
    zips = [p for p in paths if p.suffix.lower() == ".zip"]
    folder = scratch / (_safe(zips[0].stem) if zips else "upload")  # the catalog's name in the report
    folder.mkdir()
    try:
        for path in paths:
            _check_size(path)
        if zips:
            if len(paths) > 1:
                raise UploadError("send either one zip of the catalog folder or the table files, not both.")
            _unzip(zips[0], folder)
        else:
            for path in paths:
                _copy_table(path, path.name, folder)
        yield folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _table_name(name: str) -> str:
    """The catalog file name for an uploaded file name, or UploadError."""
    base = Path(name).name
    stem, suffix = Path(base).stem.lower(), Path(base).suffix.lower()
    if suffix not in SUFFIXES or stem not in TABLES:
        raise UploadError(f"{base!r} is not a catalog table: expected one of "
                          f"{', '.join(f'{t}.csv' for t in TABLES)} (or .jsonl), or a zip of the catalog folder.")
    return f"{stem}{suffix}"


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        raise UploadError(f"{path.name} could not be read on the server: upload it again.") from None
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(f"{path.name} has {size / MB:,.0f} MB; an upload may have at most {MAX_UPLOAD_BYTES // MB:,} MB.")


def _copy_table(path: Path, name: str, folder: Path) -> None:
    target = folder / _table_name(name)
    if target.exists():
        raise UploadError(f"{target.name} was uploaded twice: send each table once.")
    try:
        shutil.copyfile(path, target)
    except OSError:
        raise UploadError(f"{path.name} could not be read on the server: upload it again.") from None


def _unzip(path: Path, folder: Path) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise UploadError(f"{path.name} is not a readable zip file.") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(m.filename)]
        if len(members) > MAX_MEMBERS:
            raise UploadError(f"{path.name} has {len(members):,} files; a catalog has at most five tables.")
        tables = [m for m in members if Path(m.filename).suffix.lower() in SUFFIXES]
        _check_expansion(path.name, tables)
        folders = {str(Path(m.filename).parent) for m in tables if Path(m.filename).stem.lower() == "items"}
        if len(folders) != 1:
            raise UploadError(f"{path.name} must hold one catalog folder with an items.csv (or items.jsonl); "
                              + ("it has none." if not folders else f"it has {len(folders)}: {', '.join(sorted(folders))}."))
        [top] = folders
        for member in tables:
            if str(Path(member.filename).parent) != top or Path(member.filename).stem.lower() not in TABLES:
                continue
            target = folder / _table_name(member.filename)
            if target.exists():
                raise UploadError(f"{path.name} has {target.name} twice.")
            with archive.open(member) as source, target.open("wb") as out:  # stops at the declared size
                shutil.copyfileobj(source, out)


def _check_expansion(name: str, tables: Sequence[zipfile.ZipInfo]) -> None:
    """Refuse a zip bomb from its directory alone: nothing is expanded yet."""
    for member in tables:
        base = Path(member.filename).name
        if member.file_size > MAX_TABLE_BYTES:
            raise UploadError(f"{name}: {base} expands to {member.file_size / MB:,.0f} MB; a table may have at "
                              f"most {MAX_TABLE_BYTES // MB:,} MB.")
        if member.file_size > RATIO_FROM_BYTES and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise UploadError(f"{name}: {base} expands {member.file_size / max(member.compress_size, 1):,.0f} times "
                              f"(from {member.compress_size / MB:,.2f} MB to {member.file_size / MB:,.0f} MB); "
                              f"real catalogs compress at most {MAX_RATIO} times, so it is refused as a zip bomb.")
    total = sum(m.file_size for m in tables)
    if total > MAX_EXPANDED_BYTES:
        raise UploadError(f"{name} expands to {total / MB:,.0f} MB; a zip may expand to at most "
                          f"{MAX_EXPANDED_BYTES // MB:,} MB.")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60].strip(".") or "upload"


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in Path(name).parts)
