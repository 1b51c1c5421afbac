"""All of kgrec's settings in one place, read from flags and the environment."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kgrec.kg.device import check_device
from kgrec.kg.errors import KgrecError

STORE_KINDS = ("embedded", "neo4j")
RETRIEVALS = ("auto", "exact", "faiss", "neo4j")


@dataclass(frozen=True)
class Settings:
    """Where kgrec keeps its state and how it reaches its graph store.

    Every file kgrec writes lives under ``home`` (``KGREC_HOME``, default ``~/.kgrec``),
    so two runs with different homes never touch each other.
    """

    home: Path
    store: str = "embedded"
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = field(default=None, repr=False)
    neo4j_database: str | None = None
    pseudonym_key: str | None = field(default=None, repr=False)
    embedding_model: str = "all-MiniLM-L6-v2"
    device: str = "auto"
    rating_range: tuple[float, float] = (0.0, 10.0)
    batch_size: int = 20_000
    api_token: str | None = field(default=None, repr=False)
    """``KGREC_API_TOKEN``: when set, every write (uploads, add item, the HTTP API's writes)
    needs it."""
    read_token: str | None = field(default=None, repr=False)
    """``KGREC_READ_TOKEN``: when set, reads need it (or the write token)."""
    read_only: bool = False
    """``KGREC_READ_ONLY=1`` or ``kgrec serve --read-only``: every write is refused."""
    pseudonymize: bool = False
    """``KGREC_PSEUDONYMIZE=1``: every ingest (CLI, uploads, add item, the HTTP API)
    replaces user ids by their keyed hash (``KGREC_PSEUDONYM_KEY``) before anything is
    stored or reported."""
    refresh_events: int = 1000
    """``KGREC_REFRESH_EVENTS``: a served model re-reads the whole store in the background
    after this many events and items applied incrementally."""
    refresh_seconds: float = 600.0
    """``KGREC_REFRESH_SECONDS``: ... or after this long with any change applied."""
    store_timeout: float = 1.0
    """``KGREC_STORE_TIMEOUT``: seconds a served read (explanation paths) waits for the store
    before the service answers without it and treats the store as down for a while."""
    retrieval: str = "auto"
    """``KGREC_RETRIEVAL``: how the service finds the items to score (:mod:`kgrec.gnn.retrieval`):
    ``exact`` scores every item; ``faiss`` (an in-process HNSW index) or ``neo4j`` (Neo4j's
    vector index) retrieve candidates and score them exactly; ``auto`` is exact below
    ``ann_min_items`` items, else neo4j on the Neo4j store and faiss on the embedded one."""
    ann_min_items: int = 50_000
    """``KGREC_ANN_MIN_ITEMS``: the catalog size from which ``auto`` uses an index."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``KGREC_*`` variables; keyword overrides (from CLI flags) win when not None."""
        env = os.environ if environ is None else environ
        uri = env.get("KGREC_NEO4J_URI") or None
        values: dict[str, object] = {
            "home": Path(env.get("KGREC_HOME") or Path.home() / ".kgrec").expanduser(),
            "store": env.get("KGREC_STORE") or ("neo4j" if uri else "embedded"),
            "neo4j_uri": uri,
            "neo4j_user": env.get("KGREC_NEO4J_USER") or "neo4j",
            "neo4j_password": env.get("KGREC_NEO4J_PASSWORD"),
            "neo4j_database": env.get("KGREC_NEO4J_DATABASE") or None,
            "pseudonym_key": env.get("KGREC_PSEUDONYM_KEY") or None,
            "embedding_model": env.get("KGREC_EMBEDDING_MODEL") or "all-MiniLM-L6-v2",
            "device": env.get("KGREC_DEVICE") or "auto",
            "api_token": env.get("KGREC_API_TOKEN") or None,
            "read_token": env.get("KGREC_READ_TOKEN") or None,
            "read_only": (env.get("KGREC_READ_ONLY") or "").strip().lower() in ("1", "true", "yes"),
            "pseudonymize": (env.get("KGREC_PSEUDONYMIZE") or "").strip().lower() in ("1", "true", "yes"),
            "retrieval": (env.get("KGREC_RETRIEVAL") or "auto").strip().lower(),
        }
        numbers = {"refresh_events": _number(env, "KGREC_REFRESH_EVENTS", int),
                   "refresh_seconds": _number(env, "KGREC_REFRESH_SECONDS", float),
                   "store_timeout": _number(env, "KGREC_STORE_TIMEOUT", float),
                   "ann_min_items": _number(env, "KGREC_ANN_MIN_ITEMS", int)}
        values.update({k: v for k, v in numbers.items() if v is not None})
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["home"] = Path(values["home"]).expanduser()  # type: ignore[arg-type]
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        check_device(self.device)
        if self.store not in STORE_KINDS:
            raise KgrecError(f"unknown store {self.store!r}: choose one of {', '.join(STORE_KINDS)}")
        if self.store == "neo4j" and not self.neo4j_uri:
            raise KgrecError("the neo4j store needs KGREC_NEO4J_URI (for example bolt://127.0.0.1:7687)")
        if self.pseudonymize and not self.pseudonym_key:
            raise KgrecError("KGREC_PSEUDONYMIZE=1 needs a secret key in KGREC_PSEUDONYM_KEY")
        if self.refresh_events < 1 or self.refresh_seconds <= 0 or self.store_timeout <= 0:
            raise KgrecError("KGREC_REFRESH_EVENTS, KGREC_REFRESH_SECONDS and KGREC_STORE_TIMEOUT must be positive")
        if self.retrieval not in RETRIEVALS:
            raise KgrecError(f"unknown KGREC_RETRIEVAL {self.retrieval!r}: choose one of {', '.join(RETRIEVALS)}")
        if self.retrieval == "neo4j" and self.store != "neo4j":
            raise KgrecError("KGREC_RETRIEVAL=neo4j needs the neo4j store (set KGREC_NEO4J_URI)")
        if self.ann_min_items < 0:
            raise KgrecError("KGREC_ANN_MIN_ITEMS must not be negative")
        low, high = self.rating_range
        if not low < high:
            raise KgrecError(f"rating range {low}:{high} is empty")
        if self.pseudonym_key is not None:
            from kgrec.kg.pseudonymize import check_key

            check_key(self.pseudonym_key)

    def check_writable(self, *folders: Path) -> None:
        """Each folder exists or can be made and takes a new file; else one sentence, before
        any work whose result could not be saved."""
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as error:
                raise KgrecError(
                    f"cannot write to {folder} ({error.strerror or error}): KGREC_HOME ({self.home}) must be a "
                    "writable folder; choose another with --home or KGREC_HOME"
                ) from None

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def data_dir(self) -> Path:
        """Downloaded public data sets."""
        return self.home / "data"

    @property
    def store_dir(self) -> Path:
        """The embedded graph store."""
        return self.home / "store"

    @property
    def cache_dir(self) -> Path:
        """Embedding cache and other derived data."""
        return self.home / "cache"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def reports_dir(self) -> Path:
        """Ingest reports and quarantined rows."""
        return self.home / "reports"


def _number(env: Mapping[str, str], name: str, kind: type) -> object:
    """A numeric variable, None when unset (the default applies); one sentence when unreadable."""
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise KgrecError(f"{name} must be a number, got {text!r}") from None
