"""A trained model as a folder of files, and nothing else: this module reads and writes
:class:`Checkpoint` objects; :meth:`kgrec.gnn.inference.KGRec.to_checkpoint` and
:meth:`~kgrec.gnn.inference.KGRec.from_checkpoint` are the one bridge to the model, and
``KGRec.save(folder)`` / ``KGRec.load(folder)`` the one public way to use it.

A model folder holds:

- :data:`WEIGHTS` (``weights.pt``) — the :class:`~kgrec.gnn.model.KGRecModel` state dict
  (loaded with ``weights_only=True``: no code runs from the file);
- :data:`META` (``model.json``) — format version, the :class:`~kgrec.gnn.recommender.TrainSettings`,
  the :class:`~kgrec.gnn.model.KGRecConfig`, the table sizes, the text model id, the fingerprint
  of the catalog it was trained on (:func:`kgrec.gnn.splits.fingerprint`), the library versions,
  when it was written, and the SHA-256 of every other file of the folder;
- :data:`IDS` (``ids.json``) — the node ids that own each ID-embedding row, per label
  (users and items with training interactions, entities in the training graph), in row order;
- :data:`COLD_START` (``cold_start.pt``) — the item–item matrix, content tower and blend
  fitted after the GNN (:class:`~kgrec.gnn.cold_start.ColdStart`, as tensors, loaded with
  ``weights_only=True``); a folder without it serves the GNN's scores alone;
- :data:`~kgrec.gnn.curve.CURVE_JSON` and :data:`~kgrec.gnn.curve.CURVE_PNG` — loss and validation
  NDCG@20 per epoch.

Anything missing, unreadable, inconsistent or not matching its checksum raises
:class:`~kgrec.kg.errors.KgrecError` with one sentence that names the file and what is wrong.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import Tensor

from kgrec.gnn.curve import CURVE_JSON, CURVE_PNG, TrainingCurve
from kgrec.gnn.model import KGRecConfig
from kgrec.gnn.recommender import TrainSettings
from kgrec.kg.errors import KgrecError
from kgrec.kg.files import write_atomically

FORMAT_VERSION = 2
"""2: ``model.json`` lists a SHA-256 per file."""
WEIGHTS = "weights.pt"
META = "model.json"
IDS = "ids.json"
COLD_START = "cold_start.pt"
FILES = (WEIGHTS, META, IDS)
"""The files every model folder has (the curve files are optional)."""
LABELS = ("User", "Item", "Entity")

__all__ = ["COLD_START", "CURVE_JSON", "CURVE_PNG", "FILES", "FORMAT_VERSION", "IDS", "META", "WEIGHTS", "Checkpoint",
           "ModelShape", "check_writable"]


@dataclass(frozen=True)
class ModelShape:
    """The table sizes a :class:`~kgrec.gnn.model.KGRecModel` is built with."""

    n_users: int
    n_items: int
    n_entities: int
    text_dim: int
    dim: int
    layers: int
    text_layers: int

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            least = 0 if f.name.startswith("n_") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"model.{f.name} is {value!r}, expected an integer of at least {least}")


@dataclass
class Checkpoint:
    """Everything a model folder holds, in memory."""

    state: dict[str, Tensor]
    shape: ModelShape
    settings: TrainSettings
    config: KGRecConfig
    ids: dict[str, list[str]]
    """Per label, the ids that own each ID-embedding row, in row order."""
    text_model: str = ""
    fingerprint: str = ""
    curve: TrainingCurve | None = None
    cold_start: dict[str, Tensor] | None = None
    """The fitted cold-start parts as tensors (:meth:`kgrec.gnn.cold_start.ColdStart.state`)."""

    def write(self, directory: Path | str) -> Path:
        """Write the folder (created; each file replaced atomically, ``model.json`` last,
        with the checksums of the others)."""
        directory = check_writable(directory)
        state = {k: v.detach().cpu() for k, v in self.state.items()}
        write_atomically(directory / WEIGHTS, lambda handle: torch.save(state, handle))
        write_atomically(directory / IDS, lambda handle: handle.write(json.dumps(self.ids).encode("utf-8")))
        written = [WEIGHTS, IDS]
        if self.cold_start is not None:
            cold_start = {k: v.detach().cpu() for k, v in self.cold_start.items()}
            write_atomically(directory / COLD_START, lambda handle: torch.save(cold_start, handle))
            written.append(COLD_START)
        if self.curve is not None:
            self.curve.save(directory)
            written += [CURVE_JSON, CURVE_PNG]
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "kgrec",
            "train_settings": asdict(self.settings),
            "config": asdict(self.config),
            "model": asdict(self.shape),
            "text_model": self.text_model,
            "catalog_fingerprint": self.fingerprint,
            "versions": {"torch": torch.__version__, "torch_geometric": _pyg_version()},
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": {name: _sha256(directory / name) for name in written},
        }
        write_atomically(directory / META, lambda handle: handle.write(json.dumps(meta, indent=1).encode("utf-8")))
        return directory

    @classmethod
    def read(cls, directory: Path | str) -> Checkpoint:
        """The checkpoint in ``directory``, every file checked against ``model.json``."""
        directory = Path(directory)
        if not directory.is_dir():
            raise KgrecError(f"no model at {directory}: train one first (kgrec train) or pass the right folder")
        missing = [name for name in FILES if not (directory / name).is_file()]
        if missing:
            raise KgrecError(f"the model folder {directory} is incomplete: {', '.join(missing)} missing; train again")
        meta = _read_json(directory / META, directory)
        if not isinstance(meta, dict) or meta.get("kind") != "kgrec":
            raise KgrecError(f"{directory / META} does not describe a kgrec model")
        if meta.get("format_version") != FORMAT_VERSION:
            raise KgrecError(f"the model at {directory} has format version {meta.get('format_version')!r}; "
                             f"this kgrec reads version {FORMAT_VERSION}: train again")
        _verify_checksums(directory, meta.get("files"))
        try:
            settings = TrainSettings(**_known(TrainSettings, meta["train_settings"]))
            config = KGRecConfig(**_known(KGRecConfig, meta["config"]))
            shape = ModelShape(**_known(ModelShape, meta["model"]))
        except (KeyError, TypeError, ValueError, KgrecError) as exc:
            raise KgrecError(f"{directory / META} is corrupt ({_reason(exc)}): train again") from None
        ids = _ids(_read_json(directory / IDS, directory), shape, directory / IDS)
        state = _tensors(directory / WEIGHTS)
        cold_start = None
        if COLD_START in meta["files"]:
            cold_start = _tensors(directory / COLD_START)
        curve = None
        if (directory / CURVE_JSON).is_file():
            raw = _read_json(directory / CURVE_JSON, directory)
            try:
                if not isinstance(raw, dict):
                    raise TypeError(f"expected an object, got {type(raw).__name__}")
                curve = TrainingCurve.from_dict(raw)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise KgrecError(f"{directory / CURVE_JSON} is not a training curve ({_reason(exc)}): train again") from None
        return cls(state=state, shape=shape, settings=settings, config=config, ids=ids,
                   text_model=str(meta.get("text_model", "")), fingerprint=str(meta.get("catalog_fingerprint", "")),
                   curve=curve, cold_start=cold_start)


def check_writable(directory: Path | str) -> Path:
    """``directory``, created if needed, once a file could be written in it: checked
    before training, so that a read-only KGREC_HOME fails in seconds, not after training."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise KgrecError(f"cannot write the model folder {directory} ({exc.strerror or type(exc).__name__}): "
                         "make it writable or choose another folder (--out, KGREC_HOME)") from None
    return directory


def _tensors(path: Path) -> dict[str, Tensor]:
    """A file of named tensors (``weights_only``: no code runs from it)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (pickle, zip, EOF)
        raise KgrecError(f"cannot read {path} ({type(exc).__name__}): the file is damaged or from another model; "
                         "train again") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise KgrecError(f"{path} holds no dictionary of tensors: train again")
    return state


def _verify_checksums(directory: Path, files: object) -> None:
    if not isinstance(files, dict) or WEIGHTS not in files or IDS not in files:
        raise KgrecError(f"{directory / META} lists no checksums of the model's files: it is damaged; train again")
    for name, expected in files.items():
        path = directory / str(name)
        if Path(str(name)).name != str(name) or not path.is_file():
            raise KgrecError(f"{directory / META} lists {name!r}, which is not in the model folder: train again")
        if _sha256(path) != expected:
            raise KgrecError(f"{path} does not match its SHA-256 in {META}: the file was changed or damaged; "
                             "train again")


def _ids(raw: object, shape: ModelShape, path: Path) -> dict[str, list[str]]:
    """The id lists, each checked to be a list of ids as long as its table."""
    if not isinstance(raw, dict):
        raise KgrecError(f"{path} is corrupt (expected an object of id lists): train again")
    ids: dict[str, list[str]] = {}
    for label, size in zip(LABELS, (shape.n_users, shape.n_items, shape.n_entities)):
        values = raw.get(label, [])
        if not isinstance(values, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise KgrecError(f"{path} is corrupt: the {label} ids are not a list of ids; train again")
        if len(values) != size:
            raise KgrecError(f"{path} lists {len(values)} {label} ids but the model has {size} rows: the folder "
                             "mixes files of different models; train again")
        ids[label] = [str(v) for v in values]
    return ids


def _read_json(path: Path, directory: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KgrecError(f"cannot read {path} ({exc.__class__.__name__}): the model at {directory} is damaged; "
                         "train again") from None


def _known(cls: type, values: object) -> dict[str, object]:
    """The fields of ``values`` that ``cls`` has (a newer kgrec may have added some)."""
    if not isinstance(values, dict):
        raise TypeError(f"expected an object for {cls.__name__}")
    names = {f.name for f in fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pyg_version() -> str:
    import torch_geometric

    return str(torch_geometric.__version__)
