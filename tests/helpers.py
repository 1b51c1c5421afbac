"""Small helpers shared by tests."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from kgrec.kg.graph import GraphExport
from kgrec.kg.ingest import IngestResult, ingest
from kgrec.kg.ingest import ingest_folder as streamed_ingest
from kgrec.kg.reader import read_catalog
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import GraphStore


def write_catalog(folder: Path, **files: str | bytes) -> Path:
    """Write ``name=content`` as ``name.csv`` (or the name as given when it has a dot)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / (name if "." in name else f"{name}.csv")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def ingest_folder(folder: Path, store: GraphStore, settings: Settings, **options: bool) -> IngestResult:
    """What ``kgrec ingest --catalog`` does: interactions streamed (:func:`kgrec.kg.ingest.ingest_folder`)."""
    return streamed_ingest(folder, store, settings, progress=False, **options)


def ingest_in_memory(folder: Path, store: GraphStore, settings: Settings, **options: bool) -> IngestResult:
    """The whole catalog read into frames first (the app's uploads)."""
    catalog, files, rejections = read_catalog(folder)
    return ingest(catalog, store, settings, files, rejections, progress=False, **options)


def normalised(export: GraphExport) -> dict[str, object]:
    """An export as plain, order-independent data, to compare two stores or two moments."""
    nodes = {
        label: sorted(
            tuple(sorted((k, v) for k, v in row.items() if not pd.isna(v)))
            for row in frame.to_dict("records")
        )
        for label, frame in export.nodes.items()
    }
    edges = {}
    for key, frame in export.edges.items():
        src_ids, dst_ids = export.ids(key.src), export.ids(key.dst)
        edges[tuple(key)] = sorted(
            (src_ids[int(row["src"])], dst_ids[int(row["dst"])], tuple(sorted((k, v) for k, v in row.items() if k not in ("src", "dst") and not pd.isna(v))))
            for row in frame.to_dict("records")
        )
    return {"nodes": nodes, "edges": edges}
