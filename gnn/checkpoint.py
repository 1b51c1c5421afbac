"""Saving and loading a trained :class:`~gnn.inference.KGRec` as a folder.

A model folder holds:

- ``weights.pt`` — the :class:`~gnn.model.KGRecModel` state dict (loaded with
  ``weights_only=True``: no code runs from the file);
- ``model.json`` — format version, the :class:`~gnn.recommender.TrainSettings`, the
  :class:`~gnn.model.KGRecConfig`, the table sizes, the text model id, the fingerprint of
  the catalog it was trained on (:func:`gnn.splits.fingerprint`: item and user ids and
  interactions), the library versions and when it was written;
- ``ids.json`` — the node ids that own each ID-embedding row, per label (users and items
  with training interactions, entities in the training graph), in row order;
- ``cold_start.pt`` — the item–item matrix, content tower and blend fitted after the GNN
  (:class:`~gnn.cold_start.ColdStart`; tensors only, loaded with ``weights_only=True``);
  a folder without it serves the GNN's scores alone;
- ``training_curve.json`` and ``training_curve.png`` — loss and validation NDCG@20 per epoch.

Anything missing, unreadable or inconsistent raises :class:`~kg.errors.KgrecError` with
a message that names the folder and what is wrong.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path

import torch

from gnn.cold_start import ColdStart
from gnn.inference import IdMaps, KGRec
from gnn.model import KGRecConfig, KGRecModel
from gnn.recommender import TrainSettings
from gnn.train import CURVE_JSON, TrainingCurve, resolve_device
from kg.errors import KgrecError

FORMAT_VERSION = 1
WEIGHTS = "weights.pt"
META = "model.json"
IDS = "ids.json"
COLD_START = "cold_start.pt"
FILES = (WEIGHTS, META, IDS)


def save_checkpoint(rec: KGRec, directory: Path | str) -> Path:
    """Write ``rec`` into ``directory`` (created; files replaced one by one atomically)."""
    if rec.model is None or rec.id_maps is None or rec.settings is None:
        raise KgrecError("nothing to save: the model has not been trained")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = rec.model
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "kgrec",
        "train_settings": asdict(rec.settings),
        "config": asdict(rec.config),
        "model": {
            "n_users": model.n_users,
            "n_items": model.n_items,
            "n_entities": model.n_entities,
            "text_dim": model.text_dim,
            "dim": model.dim,
            "layers": model.layers,
            "text_layers": model.text_layers,
        },
        "text_model": rec.text_model,
        "catalog_fingerprint": rec.fingerprint,
        "versions": {"torch": torch.__version__, "torch_geometric": _pyg_version()},
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _atomic(directory / WEIGHTS, lambda path: torch.save(state, path))
    _atomic(directory / IDS, lambda path: Path(path).write_text(json.dumps(rec.id_maps.ids), encoding="utf-8"))
    _atomic(directory / META, lambda path: Path(path).write_text(json.dumps(meta, indent=1), encoding="utf-8"))
    if rec.cold_start is not None:
        cold_start = rec.cold_start.state()
        _atomic(directory / COLD_START, lambda path: torch.save(cold_start, path))
    if rec.curve is not None:
        rec.curve.save(directory)
    return directory


def load_checkpoint(directory: Path | str, device: str = "auto", progress: bool = True) -> KGRec:
    """A :class:`KGRec` with the saved weights, settings and id maps. Call
    :meth:`KGRec.refresh` with the current export and text embeddings before scoring."""
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
    try:
        settings = TrainSettings(**_known(TrainSettings, meta["train_settings"]))
        config = KGRecConfig(**_known(KGRecConfig, meta["config"]))
        shape = meta["model"]
        model = KGRecModel(int(shape["n_users"]), int(shape["n_items"]), int(shape["n_entities"]),
                           int(shape["text_dim"]), dim=int(shape["dim"]), layers=int(shape["layers"]),
                           text_layers=int(shape["text_layers"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise KgrecError(f"{directory / META} is corrupt ({exc!r}): train again") from None
    raw_ids = _read_json(directory / IDS, directory)
    if not isinstance(raw_ids, dict):
        raise KgrecError(f"{directory / IDS} is corrupt: train again")
    ids = {str(label): [str(i) for i in values] for label, values in raw_ids.items()}
    for label, size in (("User", model.n_users), ("Item", model.n_items), ("Entity", model.n_entities)):
        if len(ids.get(label, [])) != size:
            raise KgrecError(f"{directory / IDS} lists {len(ids.get(label, []))} {label} ids but the model has "
                             f"{size} rows: the folder mixes files of different models; train again")
    try:
        state = torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # torch raises many kinds (pickle, zip, size mismatch)
        raise KgrecError(f"cannot read the weights in {directory / WEIGHTS} ({type(exc).__name__}): "
                         "the file is damaged or from another model; train again") from None
    rec = KGRec(config, text_model=str(meta.get("text_model", "")), progress=progress)
    rec.settings = settings
    rec.device = resolve_device(device)
    rec.model = model.to(rec.device)
    rec.id_maps = IdMaps(ids)
    rec.fingerprint = str(meta.get("catalog_fingerprint", ""))
    if (directory / COLD_START).is_file():
        try:
            rec.cold_start = ColdStart.from_state(torch.load(directory / COLD_START, map_location="cpu", weights_only=True))
        except Exception as exc:  # as for the weights: many kinds
            raise KgrecError(f"cannot read {directory / COLD_START} ({type(exc).__name__}): the file is damaged; "
                             "train again") from None
    if (directory / CURVE_JSON).is_file():
        rec.curve = TrainingCurve.from_dict(_read_json(directory / CURVE_JSON, directory))  # type: ignore[arg-type]
    return rec


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


def _atomic(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    handle, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _pyg_version() -> str:
    import torch_geometric

    return str(torch_geometric.__version__)


__all__ = ["FORMAT_VERSION", "load_checkpoint", "save_checkpoint"]
