"""A first load into an empty Neo4j by Neo4j's own offline importer (``neo4j-admin database
import full``), for catalogs too large for transactional writes over Bolt.

:class:`Neo4jImport` is a load target for :func:`kgrec.kg.ingest.load`: the catalog is read,
validated and reported exactly as for any ingest, and the graph deltas that a store would
load are written instead as the importer's CSV files (one file per delta, label and
relationship type, each with its own header: ``id:ID(Item)``, ``:START_ID(User)``,
``:END_ID(Item)``, ``rating:double``, ...; one id space per label, since an item and a user
may share an id), streamed chunk by chunk. The ``:KgrecMeta`` version node is written with
them. Then ``scripts/neo4j-local import`` runs the importer into the local DBMS folder, which
must be stopped and empty. The uniqueness constraints are created by :class:`Neo4jStore` when
it first connects to the started database, as after any load.

The graph is the one a Bolt ingest writes: the same labels, types, ids and properties
(absent where a value is missing), deduplicated the same way (the last row of an id or a
pair wins). Two differences: the store's version starts at generation 1, and a property
that is an empty string is absent (the importer reads an empty field as no value; the
validator already turns empty item and user values into none).
"""
from __future__ import annotations

import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype

from kgrec.kg.errors import StoreError
from kgrec.kg.graph import GraphDelta
from kgrec.kg.identifiers import checked_label, checked_type
from kgrec.kg.memory import return_freed_memory
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import Changes, Progress
from kgrec.kg.store.neo4j import META

LAUNCHER = Path(__file__).resolve().parents[2] / "scripts" / "neo4j-local"
"""The local-Neo4j script of a kgrec checkout, which carries the importer's Maven build."""
HEAP, OFF_HEAP = "1g", "2g"
"""The importer's JVM heap and its cap on off-heap memory (its own default is 90% of RAM)."""
RUNNING, NOT_EMPTY = 3, 4
"""Exit codes of ``neo4j-local import`` that refuse an import (nothing changed)."""
_UNSAFE_NAME = re.compile(r"[:\"\r\n\x00-\x1f]")
_EXCEPTION_NAME = re.compile(r"^(Caused by: )?(([\w$]+\.)*[\w$]+(Exception|Error): )+")


class Neo4jImport:
    """Bulk-load target: the stopped, empty Neo4j whose DBMS folder is ``data`` (what
    ``scripts/neo4j-local --data`` names). Refuses at once, with one sentence, a database
    that is running or holds nodes."""

    kind = "neo4j (offline import)"

    def __init__(self, data: Path, settings: Settings) -> None:
        self.data = data.expanduser().resolve()
        self.home = settings.home
        self.log = self.data / "import.log"
        if not LAUNCHER.is_file():
            raise StoreError(f"the offline import runs through {LAUNCHER.name} of a kgrec checkout, not found at "
                             f"{LAUNCHER}; with a Neo4j installation of your own, ingest over Bolt instead")
        self._run(["--check"])

    def existing_ids(self, label: str, ids: Iterable[str]) -> set[str]:
        """None: the database is empty (checked when this target was opened)."""
        return set()

    def compare(self, delta: GraphDelta) -> dict[str, Changes]:
        """Everything is new in an empty database (after the same deduplication as a load)."""
        out: dict[str, Changes] = {}
        for label, frame in delta.nodes.items():
            out[label] = out.get(label, Changes()).plus(Changes(new=int(frame["id"].nunique())))
        for rel, frame in delta.rels.items():
            pairs = len(frame.drop_duplicates(["src", "dst"]))
            out[rel.type] = out.get(rel.type, Changes()).plus(Changes(new=pairs))
        return out

    def load_stream(self, deltas: Iterable[GraphDelta], progress: Progress | None = None) -> None:
        """Write each delta's CSV files as it comes (bounded memory), then import them all."""
        self.home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.home, prefix="neo4j-import-") as tmp:
            folder = Path(tmp)
            options, multiline, broken = [], [], set()
            meta = folder / "meta.csv"
            pd.DataFrame({"id:ID(KgrecMeta)": ["store"], "epoch": [str(uuid.uuid4())],
                          "generation:long": [1]}).to_csv(meta, index=False)
            options.append(f"--nodes={META}={meta}")
            for n, delta in enumerate(deltas):
                for path, option, spans_lines in _write_delta(delta, folder, n, broken, progress):
                    options.append(f"{option}={path}")
                    if spans_lines:
                        multiline.append(str(path))
            if multiline:
                options += ["--multiline-fields-format=v2", f"--multiline-fields={','.join(multiline)}"]
            # Validated rows are fault-free: any bad entry is a bug, so it stops the import.
            options += ["--bad-tolerance=0", f"--report-file={folder / 'import.report'}"]
            arguments = folder / "import.args"
            arguments.write_text("".join(f"{_argument(o)}\n" for o in options), encoding="utf-8")
            self._run(["--", f"@{arguments}"])

    def _run(self, arguments: list[str]) -> None:
        """``neo4j-local import --data DATA ARGUMENTS``, its output into :attr:`log`; one
        sentence when it refuses or fails."""
        self.data.mkdir(parents=True, exist_ok=True)
        command = [str(LAUNCHER), "import", "--data", str(self.data), "--heap", HEAP, "--pagecache", OFF_HEAP,
                   *arguments]
        # kgrec's validation peak (2.3 GB at 10M interactions) is not held beside the importer's JVM.
        return_freed_memory()
        with self.log.open("w", encoding="utf-8") as log:
            code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT).returncode
        if code == RUNNING:
            raise StoreError(f"Neo4j in {self.data} is running: stop it (scripts/neo4j-local stop --data {self.data}) "
                             "before an offline import, or ingest over Bolt without --bulk")
        if code == NOT_EMPTY:
            raise StoreError(f"the Neo4j database in {self.data} is not empty: the offline import only loads an empty "
                             "database; ingest over Bolt without --bulk, or choose a new --neo4j-data folder")
        if code != 0:
            raise StoreError(f"Neo4j's importer failed on {self.data} (exit code {code}): {_importer_error(self.log)} "
                             f"(log: {self.log})")

    def close(self) -> None:
        """Nothing held: the CSV files are gone once imported."""

    def __enter__(self) -> Neo4jImport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_delta(delta: GraphDelta, folder: Path, n: int, broken: set[str],
                 progress: Progress | None) -> Iterator[tuple[Path, str, bool]]:
    """The delta's files: (path, importer option, whether a value spans lines). ``broken``
    collects the labels with an id that spans lines: a relationship's ends are ids of nodes
    written before it (the first delta holds every node), so its ids need no look of their own."""
    for label, frame in delta.nodes.items():
        frame = frame.drop_duplicates("id", keep="last")
        if len(frame):
            header = [f"id:ID({checked_label(label)})", *_typed(frame, ("id",), f"{label} nodes")]
            path = folder / f"{n:05d}-nodes-{label}.csv"
            frame.to_csv(path, index=False, header=header, na_rep="", lineterminator="\n")
            if _spans_lines(frame, ["id"]):
                broken.add(label)
            yield path, f"--nodes={label}", label in broken or _spans_lines(frame, frame.columns.drop("id"))
            if progress:
                progress(len(frame))
    for rel, frame in delta.rels.items():
        frame = frame.drop_duplicates(["src", "dst"], keep="last")
        if len(frame):
            header = [f":START_ID({checked_label(rel.src)})", f":END_ID({checked_label(rel.dst)})",
                      *_typed(frame, ("src", "dst"), f"{rel.type} relationships")]
            path = folder / f"{n:05d}-rels-{checked_type(rel.type)}-{rel.src}-{rel.dst}.csv"
            frame.to_csv(path, index=False, header=header, na_rep="", lineterminator="\n")
            spans = bool({rel.src, rel.dst} & broken) or _spans_lines(frame, frame.columns.drop(["src", "dst"]))
            yield path, f"--relationships={rel.type}", spans
            if progress:
                progress(len(frame))


def _typed(frame: pd.DataFrame, keys: tuple[str, ...], what: str) -> list[str]:
    """The importer's header fields of the property columns, ``name:type`` from the values:
    strings, ``long``, ``double`` (also an integer column with gaps, which pandas holds as
    floats and a Bolt load writes as floats) or ``boolean``."""
    fields = []
    for column in (c for c in frame.columns if c not in keys):
        name = str(column)
        if _UNSAFE_NAME.search(name):
            raise StoreError(f"the offline import cannot name the property {name!r} of {what} (a colon, quote or "
                             "control character); rename that column or ingest over Bolt without --bulk")
        values = frame[column]
        if is_bool_dtype(values.dtype):
            kind = "boolean"
        elif is_integer_dtype(values.dtype):
            kind = "long"
        elif is_float_dtype(values.dtype):
            kind = "double"
        else:
            kinds = {type(v) for v in values.dropna().tolist()}
            if not kinds <= {str}:
                raise StoreError(f"the offline import needs one type per property; {what} have {name!r} values of "
                                 f"types {', '.join(sorted(k.__name__ for k in kinds))}: ingest over Bolt without --bulk")
            kind = "string"
        fields.append(name if kind == "string" else f"{name}:{kind}")
    return fields


def _spans_lines(frame: pd.DataFrame, columns: Iterable[str]) -> bool:
    """Whether a text value of ``columns`` holds a line break (the importer must then be told
    that the file has fields spanning lines)."""
    return any(frame[c].astype(str).str.contains("[\r\n]", regex=True).any() for c in columns
               if not (is_bool_dtype(frame[c].dtype) or is_integer_dtype(frame[c].dtype) or is_float_dtype(frame[c].dtype)))


def _argument(option: str) -> str:
    """One line of a picocli argument file: quoted, so paths with spaces stay one argument."""
    return '"' + option.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _importer_error(log: Path) -> str:
    """The importer's error for the one-sentence message: the first line of its output that
    names one, without stack frames or exception class names."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line and not line.startswith(("at ", "..."))]
    named = [line for line in lines if re.search(r"exception|error|fail", line, re.IGNORECASE)]
    return _EXCEPTION_NAME.sub("", (named or lines or ["no output"])[0])[:500]
