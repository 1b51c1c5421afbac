"""An on-disk cache of text embeddings for one model, keyed by a hash of each text.

The cache is a folder of shards, ``<name>.npz`` files each holding ``keys`` (hex text
hashes) and ``vectors`` (float32, one row per key). New embeddings go to a new shard, so
adding a few texts to a large catalog writes only those few; when there are more than
``MAX_SHARDS`` shards they are merged into one. Every shard is written to a temporary
file and renamed into place, so a crash leaves either the old state or the new one,
never half a file. A shard that cannot be read back (the zip CRC catches bit flips and
truncation) is deleted with a warning and its texts are encoded again.

Two processes may share a folder: shard names are unique, merging deletes only the
shards it read, and a shard deleted by a merge in another process is simply skipped.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kgrec.kg.files import write_atomically

log = logging.getLogger(__name__)

MAX_SHARDS = 16
SHARD_SUFFIX = ".npz"


def text_key(text: str) -> str:
    """The cache key of a text: 128 bits of BLAKE2b, as 32 hex digits."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Embeddings of one model, read from ``folder`` on first use and kept in memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._vectors: dict[str, np.ndarray] | None = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int | None:
        """The embedding size, or None while the cache is empty."""
        self._index()
        return self._dim

    def get(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those ``keys`` that are cached."""
        index = self._index()
        return {key: index[key] for key in keys if key in index}

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Add ``vectors`` (one float32 row per key) in a new shard."""
        if not keys:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._lock:
            index = self._load_locked()
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_shard(self.folder, np.asarray(keys, dtype=str), vectors)
            index.update(zip(keys, vectors))
            self._dim = vectors.shape[1]
            shards = self._shards()
            if len(shards) > MAX_SHARDS:
                self._merge(shards)

    def _index(self) -> dict[str, np.ndarray]:
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for path in self._shards():
                shard = self._read(path)
                if shard is not None:
                    self._vectors.update(zip(shard[0].tolist(), shard[1]))
        return self._vectors

    def _shards(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == SHARD_SUFFIX)

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        """A shard's keys and vectors; None when it is gone or corrupt (then it is deleted)."""
        try:
            with np.load(path, allow_pickle=False) as shard:
                keys, vectors = shard["keys"], shard["vectors"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            return self._discard(path, f"unreadable ({exc})")
        if (keys.ndim != 1 or keys.dtype.kind != "U" or vectors.ndim != 2 or vectors.dtype != np.float32
                or len(keys) != len(vectors) or not np.isfinite(vectors).all()):
            return self._discard(path, "malformed")
        if self._dim is not None and vectors.shape[1] != self._dim:
            return self._discard(path, f"of size {vectors.shape[1]}, not {self._dim}")
        self._dim = vectors.shape[1]
        return keys, vectors

    def _discard(self, path: Path, why: str) -> None:
        log.warning("embedding cache shard %s is %s: deleted, its texts will be encoded again", path, why)
        path.unlink(missing_ok=True)
        return None

    def _merge(self, shards: list[Path]) -> None:
        """Replace ``shards`` by one shard holding all their entries."""
        parts = [shard for shard in map(self._read, shards) if shard is not None]
        if parts:
            keys = np.concatenate([k for k, _ in parts])
            vectors = np.concatenate([v for _, v in parts])
            keys, first = np.unique(keys, return_index=True)
            _write_shard(self.folder, keys, vectors[first])
        for path in shards:
            path.unlink(missing_ok=True)


def _write_shard(folder: Path, keys: np.ndarray, vectors: np.ndarray) -> Path:
    """Write a shard under a fresh name, all or nothing."""
    path = folder / f"{time.time_ns():020d}-{secrets.token_hex(4)}{SHARD_SUFFIX}"
    write_atomically(path, lambda handle: np.savez(handle, keys=keys, vectors=vectors))
    return path
