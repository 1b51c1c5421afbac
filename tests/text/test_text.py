"""Sentences from a hand-built graph, the offline encoder and its on-disk cache."""
from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kgrec.kg.errors import KgrecError
from kgrec.kg.graph import GraphExport, RelKey
from kgrec.kg.settings import Settings
from kgrec.text.cache import MAX_SHARDS, EmbeddingCache, text_key
from kgrec.text.encoder import TextEncoder, model_id
from kgrec.text.features import node_text_features
from kgrec.text.sentences import (
    MAX_FACTS_PER_RELATION,
    MAX_SENTENCE_CHARS,
    attribute_sentence,
    entity_sentences,
    free_text,
    is_fallback_name,
    item_sentences,
    relation_phrase,
)

# --- a small graph ----------------------------------------------------------------------

ACTORS = [f"Actor {c}" for c in "ABCDEFG"]  # more than MAX_FACTS_PER_RELATION


def small_export() -> GraphExport:
    """Three films; facts in both directions; one director known only by a Freebase id."""
    items = pd.DataFrame({
        "id": ["i1", "i2", "i3"],
        "title": ["Heat", "Toy Story", "Crowded"],
        "description": ["A crime film about a heist crew  in\nLos Angeles", None, "x " * 400],
        "year": ["1995", "1995", None],
        "studio": [None, "Pixar", None],
    })
    entity_rows = [
        ("genre:Action", "Action", "genre"),
        ("genre:Crime", "Crime", "genre"),
        ("genre:Animation", "Animation", "genre"),
        ("p:mann", "Michael Mann", "director"),
        ("p:pacino", "Al Pacino", "actor"),
        ("p:deniro", "Robert De Niro", "actor"),
        ("m.0bxtg", "director m.0bxtg", "director"),
        ("m.0lonely", "actor m.0lonely", "actor"),
        ("year:1995", "1995", "year"),
        ("attr:age:25-34", "25-34", "age"),
        *[(f"a:{name}", name, "actor") for name in ACTORS],
    ]
    entities = pd.DataFrame(entity_rows, columns=["id", "name", "type"]).sort_values("id").reset_index(drop=True)
    at = {entity_id: i for i, entity_id in enumerate(entities["id"])}

    def rel(pairs: list[tuple[int, str]], item_first: bool) -> pd.DataFrame:
        src, dst = zip(*[(i, at[e]) if item_first else (at[e], i) for i, e in pairs])
        return pd.DataFrame({"src": src, "dst": dst}).sort_values(["src", "dst"]).reset_index(drop=True)

    edges = {
        RelKey("IN_GENRE", "Item", "Entity"): rel([(0, "genre:Action"), (0, "genre:Crime"), (1, "genre:Animation")], True),
        RelKey("RELEASED_IN", "Item", "Entity"): rel([(0, "year:1995"), (1, "year:1995")], True),
        RelKey("DIRECTED_BY", "Item", "Entity"): rel([(0, "p:mann"), (1, "m.0bxtg")], True),
        # Entity -> Item: the actors point at the films.
        RelKey("ACTED_IN", "Entity", "Item"): rel(
            [(0, "p:pacino"), (0, "p:deniro"), (1, "p:pacino")] + [(2, f"a:{name}") for name in ACTORS], False),
        RelKey("INFLUENCED", "Entity", "Item"): rel([(1, "p:mann")], False),
        # Not Item<->Entity: ignored.
        RelKey("INTERACTED", "User", "Item"): pd.DataFrame({"src": [0], "dst": [0], "rating": [5.0], "ts": [0.0]}),
    }
    users = pd.DataFrame({"id": ["u1"]})
    return GraphExport({"Item": items, "Entity": entities, "User": users}, edges)


# --- sentences --------------------------------------------------------------------------

def test_item_sentences_group_facts_from_both_directions() -> None:
    heat, toy_story, _ = item_sentences(small_export())
    assert heat == ("Heat. A crime film about a heist crew in Los Angeles. Genres: Action, Crime. "
                    "Released in 1995. Directed by Michael Mann. Starring Al Pacino, Robert De Niro.")
    # The director is known only as "director m.0bxtg": left out. The year property is
    # already stated by the RELEASED_IN fact; the studio property is added.
    assert toy_story == ("Toy Story. Genres: Animation. Released in 1995. Starring Al Pacino. "
                         "Michael Mann influenced it. Studio: Pixar.")


def test_item_sentences_cap_facts_and_length() -> None:
    crowded = item_sentences(small_export())[2]
    assert len(crowded) <= MAX_SENTENCE_CHARS
    assert crowded.endswith("Starring Actor A, Actor B, Actor C, Actor D, Actor E.")
    assert sum(name in crowded for name in ACTORS) == MAX_FACTS_PER_RELATION


def test_item_sentences_without_entities_or_edges() -> None:
    export = small_export()
    bare = GraphExport({"Item": export.nodes["Item"][["id", "title"]]}, {})
    assert item_sentences(bare) == ["Heat.", "Toy Story.", "Crowded."]
    assert entity_sentences(bare) == []


def test_entity_sentences() -> None:
    export = small_export()
    by_id = dict(zip(export.nodes["Entity"]["id"], entity_sentences(export)))
    assert len(by_id) == len(export.nodes["Entity"])
    assert by_id["p:mann"] == "Michael Mann (director)"
    assert by_id["year:1995"] == "1995 (year)"
    # A fallback name says nothing; the entity is described by its type alone.
    assert by_id["m.0bxtg"] == "director"
    assert by_id["m.0lonely"] == "actor"


def test_attribute_sentence_matches_the_attribute_entity() -> None:
    export = small_export()
    by_id = dict(zip(export.nodes["Entity"]["id"], entity_sentences(export)))
    assert attribute_sentence("age", "25-34") == by_id["attr:age:25-34"] == "25-34 (age)"
    assert attribute_sentence("zip_region", " 9 ") == "9 (zip region)"


def test_free_text() -> None:
    assert free_text("  Space\u00a0operas,\n\tand  aliens ") == "Space operas, and aliens"
    assert free_text("   ") == ""
    long = free_text("word " * 1000)
    assert len(long) <= MAX_SENTENCE_CHARS and long.endswith("word")


@pytest.mark.parametrize(("rel_type", "forward", "template"), [
    ("DIRECTED_BY", True, "Directed by {}"),
    ("DIRECTED", False, "Directed by {}"),
    ("GENRE_OF", False, "Genres: {}"),
    ("NOMINATED_FOR", True, "Nominated for {}"),
    ("SEQUEL", True, "Sequel: {}"),
    ("REMAKE_OF", False, "Remake: {}"),
    ("INFLUENCED", False, "{} influenced it"),
])
def test_relation_phrase(rel_type: str, forward: bool, template: str) -> None:
    assert relation_phrase(rel_type, forward)[0] == template


@pytest.mark.parametrize(("name", "entity_id", "fallback"), [
    ("director m.0bxtg", "m.0bxtg", True),
    ("production company m.0abc", "m.0abc", True),
    ("m.0bxtg", "m.0bxtg", True),
    (None, "Q42", True),
    ("", "x", True),
    ("Michael Mann", "m.0bxtg", False),
    ("Paris", "Paris", False),  # a readable id that is its own name
    ("1995", "1995", False),
    ("Michael Mann", "mann", False),  # a readable id that ends the name
    ("year 1995", "1995", False),
])
def test_is_fallback_name(name: object, entity_id: str, fallback: bool) -> None:
    assert is_fallback_name(name, entity_id) is fallback


# --- the encoder ------------------------------------------------------------------------

def settings_for(home: Path, **overrides: object) -> Settings:
    return Settings.from_env({"KGREC_HOME": str(home)}, **overrides)


@pytest.fixture(scope="session")
def model_loaded(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Load the default model once per session (encoders share it), with the network cut
    off: any attempt to connect fails the load."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access while loading the model: {args}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        encoder = TextEncoder(settings_for(tmp_path_factory.mktemp("load"), device="cpu"))
        assert encoder.model is not None


@pytest.fixture
def encoder(model_loaded: None, tmp_path: Path) -> TextEncoder:
    return TextEncoder(settings_for(tmp_path, device="cpu"))


class Spy:
    """Wraps the real model's encode and records the texts it was given."""

    def __init__(self, encode: Callable[..., np.ndarray]) -> None:
        self.encode = encode
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str], **kwargs: object) -> np.ndarray:
        self.calls.append(list(texts))
        return self.encode(texts, **kwargs)

    @property
    def texts(self) -> int:
        return sum(len(c) for c in self.calls)


@pytest.fixture
def spy(encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch) -> Spy:
    wrapped = Spy(encoder.model.encode)
    monkeypatch.setattr(encoder.model, "encode", wrapped)
    return wrapped


def test_similar_sentences_score_higher(encoder: TextEncoder) -> None:
    space, scifi, romance = encoder.encode([
        "a space adventure with aliens",
        "science fiction film about an alien invasion",
        "a romantic comedy in Paris",
    ], progress=False)
    assert space @ scifi > space @ romance + 0.1


def test_encode_shape_and_norms(encoder: TextEncoder) -> None:
    vectors = encoder.encode(["one", "two", "one"], progress=False)
    assert vectors.shape == (3, encoder.dim) == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert encoder.encode([], progress=False).shape == (0, 384)
    assert encoder.model_id.startswith("all-MiniLM-L6-v2-")


def test_cache_encodes_only_new_texts(encoder: TextEncoder, spy: Spy, tmp_path: Path) -> None:
    texts = ["Heat. Directed by Michael Mann.", "Toy Story. Genres: Animation.", "Fargo."]
    first = encoder.encode(texts, progress=False)
    assert spy.texts == 3

    again = TextEncoder(settings_for(tmp_path, device="cpu"))  # a new process: reads the disk
    np.testing.assert_allclose(again.encode(texts, progress=False), first, atol=1e-6)
    assert spy.texts == 3

    more = again.encode(texts + ["Casino.", "Thief."], progress=False)
    assert spy.calls[-1] == ["Casino.", "Thief."]
    np.testing.assert_allclose(more[:3], first, atol=1e-6)


def test_uncached_encoding_stays_off_disk(encoder: TextEncoder, spy: Spy, tmp_path: Path) -> None:
    encoder.encode(["I like space operas"], progress=False, cache=False)
    encoder.encode(["I like space operas"], progress=False, cache=False)
    assert spy.texts == 2
    assert not cache_folder(encoder, tmp_path).exists()


def cache_folder(encoder: TextEncoder, home: Path) -> Path:
    return home / "cache" / "embeddings" / encoder.model_id


@pytest.mark.parametrize("damage", ["garbage", "flipped byte", "truncated"])
def test_corrupt_cache_is_rebuilt(encoder: TextEncoder, spy: Spy, tmp_path: Path,
                                  caplog: pytest.LogCaptureFixture, damage: str) -> None:
    texts = ["first text", "second text"]
    expected = encoder.encode(texts, progress=False)
    (shard,) = cache_folder(encoder, tmp_path).glob("*.npz")
    data = bytearray(shard.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a zip file")
    elif damage == "flipped byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    shard.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, logger="kgrec.text.cache"):
        rebuilt = TextEncoder(settings_for(tmp_path, device="cpu")).encode(texts, progress=False)
    assert "deleted" in caplog.text
    assert spy.calls[-1] == texts
    np.testing.assert_allclose(rebuilt, expected, atol=1e-6)
    assert not shard.exists()
    assert len(list(cache_folder(encoder, tmp_path).glob("*.npz"))) == 1


def test_bad_model_name_is_a_kgrec_error(tmp_path: Path) -> None:
    with pytest.raises(KgrecError, match="no-such-model-xyz"):
        TextEncoder(settings_for(tmp_path, embedding_model="no-such-model-xyz"))
    with pytest.raises(KgrecError, match="not found"):
        TextEncoder(settings_for(tmp_path, embedding_model=str(tmp_path / "missing-folder")))


def test_bad_device_is_a_kgrec_error(tmp_path: Path) -> None:
    with pytest.raises(KgrecError, match="unknown device"):
        TextEncoder(settings_for(tmp_path, device="tpu"))


def test_model_id_follows_the_model_files(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    before = model_id(str(folder), folder)
    assert before.startswith("my-model-") and before == model_id(str(folder), folder)
    (folder / "config.json").write_text('{"hidden_size": 16}')
    assert model_id(str(folder), folder) != before


def test_node_text_features(encoder: TextEncoder, spy: Spy) -> None:
    export = small_export()
    features = node_text_features(export, encoder, progress=False)
    assert features["Item"].shape == (3, 384)
    assert features["Entity"].shape == (len(export.nodes["Entity"]), 384)
    np.testing.assert_allclose(features["Item"], encoder.encode(item_sentences(export), progress=False), atol=1e-6)
    calls = len(spy.calls)
    node_text_features(export, encoder, progress=False)
    assert len(spy.calls) == calls == 1


# --- the cache on its own ---------------------------------------------------------------

def test_cache_merges_shards_and_ignores_leftovers(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = EmbeddingCache(folder)
    rng = np.random.default_rng(0)
    written = {}
    for i in range(MAX_SHARDS + 1):
        key = text_key(f"text {i}")
        written[key] = rng.standard_normal(4).astype(np.float32)
        cache.put([key], written[key][None, :])
    assert len(list(folder.glob("*.npz"))) == 1
    (folder / ".leftover-from-a-crash.tmp").write_bytes(b"partial")

    reread = EmbeddingCache(folder)
    assert reread.dim == 4
    found = reread.get(list(written) + [text_key("never written")])
    assert found.keys() == written.keys()
    for key, vector in written.items():
        np.testing.assert_array_equal(found[key], vector)


def test_load_puts_the_model_in_the_process_cache(tmp_path: Path) -> None:
    """What ``kgrec serve`` calls at start: afterwards ``model`` is the loaded one, no new load."""
    from kgrec.text.encoder import _load_model

    encoder = TextEncoder(settings_for(tmp_path, device="cpu"))
    encoder.load()
    loads = _load_model.cache_info().misses
    assert encoder.model is encoder.model and _load_model.cache_info().misses == loads
    assert encoder.model.get_sentence_embedding_dimension() == 384
