"""Model folders: a round trip keeps every score; a damaged, hand-edited or unwritable
folder is one sentence (checksums in model.json catch changed bytes)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from kgrec.gnn.checkpoint import COLD_START, CURVE_JSON, IDS, META, WEIGHTS, Checkpoint, check_writable
from kgrec.gnn.inference import KGRec
from kgrec.gnn.recommender import UserQuery
from kgrec.kg.errors import KgrecError
from test_model import fitted, tiny_data  # noqa: F401  (fitted is a fixture)


def hand_edit(folder: Path, name: str, text: str) -> None:
    """Change a file and, as a careful hand-editor would, its checksum in model.json."""
    (folder / name).write_text(text)
    meta = json.loads((folder / META).read_text())
    meta["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / META).write_text(json.dumps(meta))


def test_checkpoint_round_trip(fitted: KGRec, tmp_path: Path) -> None:
    folder = fitted.save(tmp_path / "model")
    for name in ("weights.pt", "model.json", "ids.json", "cold_start.pt", "training_curve.json", "training_curve.png"):
        assert (folder / name).is_file(), name
    meta = json.loads((folder / "model.json").read_text())
    assert meta["text_model"] == "test-encoder" and meta["catalog_fingerprint"] == fitted.fingerprint
    assert meta["train_settings"]["dim"] == 16
    loaded = KGRec.load(folder, device="cpu")
    assert loaded.settings == fitted.settings and loaded.config == fitted.config
    assert loaded.id_maps is not None and fitted.id_maps is not None and loaded.id_maps.ids == fitted.id_maps.ids
    assert loaded.curve is not None and loaded.curve.best_epoch == fitted.curve.best_epoch  # type: ignore[union-attr]
    data = tiny_data()
    loaded.refresh(data.export, data.item_text, data.entity_text, interactions=data.train)
    queries = [UserQuery(user=u) for u in range(12)] + [UserQuery(liked=[1], attributes=[0])]
    assert torch.allclose(loaded.score(queries), fitted.score(queries), atol=1e-5)
    assert loaded.exploration == fitted.exploration
    assert torch.allclose(loaded.score(queries, exploration=1.0), fitted.score(queries, exploration=1.0), atol=1e-5)


def test_missing_or_corrupt_checkpoint_is_a_plain_error(fitted: KGRec, tmp_path: Path) -> None:
    with pytest.raises(KgrecError, match="no model at"):
        KGRec.load(tmp_path / "nowhere")
    folder = fitted.save(tmp_path / "model")
    (folder / "weights.pt").write_bytes((folder / "weights.pt").read_bytes()[:100])
    with pytest.raises(KgrecError, match="weights"):
        KGRec.load(folder)
    folder = fitted.save(tmp_path / "model2")
    (folder / "model.json").write_text("{not json")
    with pytest.raises(KgrecError, match="damaged"):
        KGRec.load(folder)
    folder = fitted.save(tmp_path / "model3")
    (folder / "ids.json").unlink()
    with pytest.raises(KgrecError, match="incomplete"):
        KGRec.load(folder)
    folder = fitted.save(tmp_path / "model4")
    ids = json.loads((folder / IDS).read_text())
    ids["Item"] = ids["Item"][:-1]
    hand_edit(folder, IDS, json.dumps(ids))
    with pytest.raises(KgrecError, match="different models"):
        KGRec.load(folder)


@pytest.mark.parametrize("name", [WEIGHTS, COLD_START])
def test_flipped_bytes_fail_the_checksum(fitted: KGRec, tmp_path: Path, name: str) -> None:
    folder = fitted.save(tmp_path / "model")
    meta = json.loads((folder / META).read_text())
    assert set(meta["files"]) == {WEIGHTS, IDS, COLD_START, CURVE_JSON, "training_curve.png"}
    data = bytearray((folder / name).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(KgrecError, match=fr"{name} does not match its SHA-256 in model.json") as caught:
        KGRec.load(folder, device="cpu")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "edit", "message"), [
    (CURVE_JSON, lambda raw: [], "training_curve.json is not a training curve"),
    (IDS, lambda raw: {**raw, "User": 5}, "the User ids are not a list of ids"),
    (META, lambda raw: {**raw, "model": {**raw["model"], "dim": -1}}, r"model.dim is -1, expected an integer of at least 1"),
    (META, lambda raw: {**raw, "files": {}}, "lists no checksums"),
])
def test_hand_edited_files_are_one_sentence(fitted: KGRec, tmp_path: Path, name: str, edit, message: str) -> None:
    folder = fitted.save(tmp_path / "model")
    raw = json.loads((folder / name).read_text())
    if name == META:
        (folder / META).write_text(json.dumps(edit(raw)))
    else:
        hand_edit(folder, name, json.dumps(edit(raw)))
    with pytest.raises(KgrecError, match=message) as caught:
        KGRec.load(folder, device="cpu")
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_the_checkpoint_is_the_one_bridge(fitted: KGRec, tmp_path: Path) -> None:
    checkpoint = fitted.to_checkpoint()
    folder = checkpoint.write(tmp_path / "model")
    again = Checkpoint.read(folder)
    assert again.shape == checkpoint.shape and again.ids == checkpoint.ids and again.settings == checkpoint.settings
    rebuilt = KGRec.from_checkpoint(again, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.model.state_dict().values(), fitted.model.state_dict().values()))


def test_an_unwritable_model_folder_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kgrec.app.commands.train import train
    from kgrec.kg.settings import Settings

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "models").write_text("a file where the models folder should be")
    settings = Settings.from_env(environ={}, home=tmp_path / "home", device="cpu")

    def no_training(*args: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(KGRec, "fit", no_training)
    with pytest.raises(KgrecError, match="cannot write the model folder"):
        train(settings, KGRec.default_settings(), settings.models_dir / "default", progress=False)
    with pytest.raises(KgrecError, match="cannot write the model folder"):
        check_writable(Path("/proc/kgrec-model"))
