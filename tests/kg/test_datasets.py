"""The public data sets: fetch and its check, and the ml-100k / ml-1m adapters on the real data.

The data is fetched once from PyPI into ``${XDG_CACHE_HOME:-~/.cache}/kgrec-test-data``
(outside the repository) and reused by later runs.
"""
from __future__ import annotations

import argparse
import shutil
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from kgrec.app.commands import data as data_command
from kgrec.kg.catalog import Catalog
from kgrec.kg.datasets import DATASETS, FileSpec, check_folder, dataset, fetched, load_dataset, ml1m, ml100k
from kgrec.kg.datasets import fetch as fetch_module
from kgrec.kg.datasets.fetch import fetch
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings

ML100K_KG_TRIPLES = 91_631
FACT_TYPES = {"IN_GENRE", "RELEASED_IN"}


def raw(folder: Path, file: str) -> pd.DataFrame:
    return ml100k.read_atomic(folder / file)


# --- ml-100k ------------------------------------------------------------------------------

def test_ml100k_counts(ml100k_catalog: Catalog) -> None:
    catalog = ml100k_catalog
    assert catalog.name == "ml-100k"
    assert len(catalog.items) == 1_682
    assert len(catalog.users) == 943
    assert len(catalog.interactions) == 100_000
    kg = catalog.triples[~catalog.triples["relation"].isin(FACT_TYPES)]
    assert len(kg) == ML100K_KG_TRIPLES
    assert kg["relation"].nunique() == 24
    assert set(kg["relation"]) == {t for t, _, _ in ml100k.RELATIONS.values()}
    assert set(catalog.triples["relation"]) - set(kg["relation"]) == FACT_TYPES
    assert (catalog.triples["relation"] == "IN_GENRE").sum() == 2_891
    assert (catalog.triples["relation"] == "RELEASED_IN").sum() == 1_681
    assert len(catalog.entities) == 33_030 + 18 + 71


def test_ml100k_user_attributes(ml100k_catalog: Catalog) -> None:
    users = ml100k_catalog.users.set_index("user_id")
    assert list(users.columns) == ["age", "gender", "occupation", "zip_region"]
    assert users.loc["1"].to_dict() == {"age": "18-24", "gender": "male", "occupation": "technician", "zip_region": "8"}
    assert users.loc["2"].to_dict() == {"age": "50-55", "gender": "female", "occupation": "other", "zip_region": "9"}
    assert users.loc["74", "zip_region"] == ""  # Canadian code T8H1N
    assert set(users["age"]) <= set(ml100k.AGE_BUCKETS)
    assert set(users["gender"]) == {"male", "female"}


def test_ml100k_ids_unchanged(ml100k_catalog: Catalog, ml100k_folder: Path) -> None:
    catalog = ml100k_catalog
    assert catalog.items["item_id"].tolist() == raw(ml100k_folder, "ml-100k.item")["item_id"].tolist()
    assert catalog.users["user_id"].tolist() == raw(ml100k_folder, "ml-100k.user")["user_id"].tolist()
    inter = raw(ml100k_folder, "ml-100k.inter")
    assert catalog.interactions["user_id"].tolist() == inter["user_id"].tolist()
    assert catalog.interactions["item_id"].tolist() == inter["item_id"].tolist()
    assert catalog.interactions["rating"].dtype == "float64"
    assert catalog.interactions["timestamp"].dtype == "float64"
    first = catalog.interactions.iloc[0]
    assert (first["user_id"], first["item_id"], first["rating"], first["timestamp"]) == ("196", "242", 3.0, 881250949.0)
    assert set(catalog.interactions["item_id"]) <= set(catalog.items["item_id"])


def test_ml100k_items_and_facts(ml100k_catalog: Catalog) -> None:
    items = ml100k_catalog.items.set_index("item_id")
    assert list(ml100k_catalog.items.columns) == ["item_id", "title", "description", "year"]
    assert items.loc["1"].to_dict() == {"title": "Toy Story", "year": "1995",
                                        "description": "Animation, Children's, Comedy film from 1995."}
    assert items.loc["1412", "year"] == "1995"  # year field "V": taken from the title
    assert items.loc["267", "year"] == ""  # "unkonwn" in the source
    triples = ml100k_catalog.triples
    toy = triples[(triples["head"] == "1") & triples["relation"].isin(FACT_TYPES)]
    assert set(zip(toy["relation"], toy["tail"])) == {
        ("IN_GENRE", "genre:Animation"), ("IN_GENRE", "genre:Children's"),
        ("IN_GENRE", "genre:Comedy"), ("RELEASED_IN", "year:1995")}
    entities = ml100k_catalog.entities.set_index("entity_id")
    for genre in ("Children's", "Film-Noir", "Sci-Fi"):
        assert entities.loc[f"genre:{genre}"].to_dict() == {"name": genre, "type": "genre"}
    assert "genre:unknown" not in entities.index
    assert entities.loc["year:1995"].to_dict() == {"name": "1995", "type": "year"}


def test_ml100k_no_linked_film_id_left(ml100k_catalog: Catalog, ml100k_folder: Path) -> None:
    linked = set(raw(ml100k_folder, "ml-100k.link")["entity_id"])
    triples = ml100k_catalog.triples
    assert not triples["head"].isin(linked).any()
    assert not triples["tail"].isin(linked).any()
    assert not ml100k_catalog.entities["entity_id"].isin(linked).any()


def test_ml100k_endpoints_are_items_or_entities(ml100k_catalog: Catalog) -> None:
    items = set(ml100k_catalog.items["item_id"])
    entities = ml100k_catalog.entities["entity_id"]
    assert entities.is_unique
    assert not entities.isin(items).any()
    endpoints = pd.concat([ml100k_catalog.triples["head"], ml100k_catalog.triples["tail"]])
    known = endpoints.isin(items) | endpoints.isin(set(entities))
    assert known.all(), endpoints[~known].head().tolist()
    assert set(entities) <= set(endpoints)  # no entity without a triple
    assert not ml100k_catalog.triples.duplicated().any()


def test_ml100k_relation_directions_and_entity_types(ml100k_catalog: Catalog, ml100k_folder: Path) -> None:
    triples = ml100k_catalog.triples
    items = set(ml100k_catalog.items["item_id"])
    types = ml100k_catalog.entities.set_index("entity_id")["type"]
    directed_by = triples[triples["relation"] == "DIRECTED_BY"]
    assert len(directed_by) == 1_727
    assert directed_by["head"].isin(items).all()
    assert set(directed_by["tail"].map(types)) == {"director"}
    directed = triples[triples["relation"] == "DIRECTED"]
    assert set(zip(directed["tail"], directed["head"])) == set(zip(directed_by["head"], directed_by["tail"]))
    starring = triples[triples["relation"] == "STARRING"]
    assert starring["head"].isin(items).all()
    assert starring["tail"].map(types).isin({"actor", "director", "writer", "producer", "cinematographer"}).all()
    # every entity has the type of one of its roles, the first of them in TYPE_PRIORITY
    rank = {t: i for i, t in enumerate(ml100k.TYPE_PRIORITY)}
    roles = {rel: (head, tail) for rel, head, tail in ml100k.RELATIONS.values()}
    for end, side in (("head", 0), ("tail", 1)):
        ends = triples[triples[end].isin(types.index) & ~triples["relation"].isin(FACT_TYPES)]
        role = ends["relation"].map(lambda r, side=side: roles[r][side])
        assert (ends[end].map(types).map(rank) <= role.map(rank)).all()
    assert (triples.loc[triples["relation"] == "IN_LANGUAGE", "tail"].map(types) == "language").sum() == 2_231 - 1
    won = triples[triples["relation"] == "WON_AWARD"]
    assert set(won["tail"].map(types)) == {"award"}
    sequel, prequel = triples[triples["relation"] == "SEQUEL"], triples[triples["relation"] == "PREQUEL"]
    assert set(zip(sequel["head"], sequel["tail"])) == set(zip(prequel["tail"], prequel["head"]))
    films = ml100k_catalog.entities[ml100k_catalog.entities["type"] == "film"]
    assert len(films) == 254
    name = ml100k_catalog.entities.set_index("entity_id").loc[directed_by["tail"].iloc[0], "name"]
    assert name == f"director {directed_by['tail'].iloc[0]}"


def test_ml100k_relation_table_is_safe() -> None:
    from kgrec.kg.identifiers import relation_type

    for freebase, (rel, head, tail) in ml100k.RELATIONS.items():
        assert relation_type(rel) == rel, freebase
        assert head in ml100k.TYPE_PRIORITY and tail in ml100k.TYPE_PRIORITY
    assert len({rel for rel, _, _ in ml100k.RELATIONS.values()}) == 24


# --- shared helpers ------------------------------------------------------------------------

def test_age_bucket_years_and_codes() -> None:
    years = pd.Series([7, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73, None, -1])
    assert ml100k.age_bucket(years).tolist() == [
        "Under 18", "Under 18", "18-24", "18-24", "25-34", "25-34", "35-44", "35-44",
        "45-49", "45-49", "50-55", "50-55", "56+", "56+", "", ""]
    codes = pd.Series([1.0, 18.0, 25.0, 35.0, 45.0, 50.0, 56.0])
    assert ml100k.age_bucket(codes).tolist() == list(ml100k.AGE_BUCKETS)
    assert ml100k.age_bucket(pd.Series(["24", "x"])).tolist() == ["18-24", ""]


def test_zip_region() -> None:
    assert ml100k.zip_region(pd.Series(["85711", "T8H1N", "", " 0212", "98107-2117"])).tolist() == ["8", "", "", "0", "9"]


def test_read_atomic_typed_header(tmp_path: Path) -> None:
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\tname:token_seq\trating:float\r\nu1\tA \"B\" C\t4\r\nu2\t\t\r\n", encoding="utf-8")
    frame = ml100k.read_atomic(path, ("user_id", "rating"))
    assert list(frame.columns) == ["user_id", "name", "rating"]
    assert frame["name"].tolist() == ['A "B" C', ""]
    assert frame["rating"].iloc[0] == 4.0 and pd.isna(frame["rating"].iloc[1])
    with pytest.raises(KgrecError, match="no column"):
        ml100k.read_atomic(path, ("timestamp",))
    (tmp_path / "bad.inter").write_text("user_id,item_id\n1,2\n", encoding="utf-8")
    with pytest.raises(KgrecError, match="name:type"):
        ml100k.read_atomic(tmp_path / "bad.inter")


# --- fetch and its check ----------------------------------------------------------------------

def make_files(folder: Path) -> tuple[FileSpec, ...]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.inter").write_text("user_id:token\titem_id:token\n1\t2\n3\t4\n", encoding="utf-8")
    (folder / "a.item").write_text("item_id:token\r\n2\r\n4", encoding="utf-8")  # CRLF, no final line end
    return (FileSpec("a.inter", "user_id:token\titem_id:token", 2),
            FileSpec("a.item", "item_id:token", 2))


def test_check_folder_accepts_good_files(tmp_path: Path) -> None:
    files = make_files(tmp_path)
    assert check_folder(tmp_path, files) == {"a.inter": 2, "a.item": 2}


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "a.inter").write_text("user_id:token\n1\t2\n3\t4\n"), "starts with"),
    (lambda f: (f / "a.inter").write_text("user_id:token\titem_id:token\n1\t2\n"), "has 1 rows, expected 2"),
    (lambda f: (f / "a.item").unlink(), "a.item is missing"),
])
def test_check_folder_rejects_damage(tmp_path: Path, damage, message: str) -> None:
    files = make_files(tmp_path)
    damage(tmp_path)
    with pytest.raises(KgrecError, match=message):
        check_folder(tmp_path, files)


def test_check_rejects_corrupted_ml100k_extraction(ml100k_folder: Path, tmp_path: Path) -> None:
    spec = dataset("ml-100k")
    copy = tmp_path / "ml-100k"
    shutil.copytree(ml100k_folder, copy)
    assert check_folder(copy, spec.files)["ml-100k.kg"] == ML100K_KG_TRIPLES
    kg = (copy / "ml-100k.kg").read_bytes()
    (copy / "ml-100k.kg").write_bytes(kg.replace(b"film.film.actor", b"film.film.actxr", 1))  # same rows
    with pytest.raises(KgrecError, match="ml-100k.kg has the expected rows but not the expected content"):
        check_folder(copy, spec.files)
    (copy / "ml-100k.kg").write_bytes(kg[: len(kg) // 2])
    with pytest.raises(KgrecError, match=r"ml-100k.kg has [\d,]+ rows, expected 91,631"):
        check_folder(copy, spec.files)


def test_fetch_returns_at_once_when_fetched(ml100k_folder: Path, data_settings: Settings, monkeypatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(fetch_module, "_download", no_download)
    assert fetch("ml-100k", data_settings, progress=False) == ml100k_folder
    assert fetched("ml-100k", data_settings) == ml100k_folder


def fake_wheel(source: Path, damage: bool):
    """A stand-in for ``_download`` that 'downloads' a wheel built from ``source``."""
    spec = dataset("ml-100k")

    def download(spec_, into: Path, progress: bool) -> Path:
        into.mkdir()
        wheel = into / "recbole-1.2.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for file in spec.files:
                body = (source / file.name).read_bytes()
                if damage and file.name == "ml-100k.user":
                    body = body[: len(body) - 200]
                archive.writestr(f"{spec.folder}/{file.name}", body)
        return wheel

    return download


def test_failed_fetch_leaves_nothing(ml100k_folder: Path, tmp_path: Path, monkeypatch) -> None:
    settings = Settings(home=tmp_path / "home")
    monkeypatch.setattr(fetch_module, "_download", fake_wheel(ml100k_folder, damage=True))
    with pytest.raises(KgrecError, match=r"ml-100k.user has 9\d\d rows, expected 943"):
        fetch("ml-100k", settings, progress=False)
    assert list(settings.data_dir.iterdir()) == []
    assert fetched("ml-100k", settings) is None


def test_fetch_replaces_a_damaged_folder(ml100k_folder: Path, tmp_path: Path, monkeypatch) -> None:
    settings = Settings(home=tmp_path / "home")
    target = settings.data_dir / "ml-100k"
    target.mkdir(parents=True)
    (target / "ml-100k.inter").write_text("half a file")
    monkeypatch.setattr(fetch_module, "_download", fake_wheel(ml100k_folder, damage=False))
    assert fetch("ml-100k", settings, progress=False) == target
    assert check_folder(target, dataset("ml-100k").files)["ml-100k.inter"] == 100_000
    assert [p.name for p in settings.data_dir.iterdir()] == ["ml-100k"]


def test_pip_failure_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-such-folder"))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(KgrecError, match=r"pip could not download recbole==1.2.1"):
        fetch("ml-100k", settings, progress=False)
    assert list(settings.data_dir.iterdir()) == []


def test_unknown_dataset_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(KgrecError, match="choose one of ml-100k, ml-1m"):
        load_dataset("ml-20m", Settings(home=tmp_path))
    assert set(DATASETS) == {"ml-100k", "ml-1m"}


# --- the CLI ----------------------------------------------------------------------------------

def run_cli(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="kgrec")
    data_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args, settings)


def test_cli_data_fetch_and_list(ml100k_folder: Path, data_settings: Settings, tmp_path: Path, capsys) -> None:
    assert run_cli(["data", "fetch", "ml-100k", "--quiet"], data_settings) == 0
    out = capsys.readouterr().out
    assert str(ml100k_folder) in out and "100,000 rows" in out and "91,631 rows" in out
    assert run_cli(["data", "list"], Settings(home=tmp_path)) == 0
    out = capsys.readouterr().out
    assert "ml-100k" in out and "ml-1m" in out and "not fetched" in out
    assert run_cli(["data", "list"], data_settings) == 0
    assert f"fetched: {ml100k_folder}" in capsys.readouterr().out


# --- ml-1m (slow: a 13.5 MB wheel and a million interactions) ------------------------------

@pytest.fixture(scope="session")
def ml1m_catalog(data_settings: Settings) -> Catalog:
    folder = fetch("ml-1m", data_settings, progress=False)
    started = time.perf_counter()
    catalog = ml1m.load(folder)
    print(f"\nml1m.load: {time.perf_counter() - started:.2f} s")
    return catalog


@pytest.mark.slow
def test_ml1m_counts_and_ids(ml1m_catalog: Catalog) -> None:
    catalog = ml1m_catalog
    assert catalog.summary() == {"items": 3_883, "users": 6_040, "interactions": 1_000_209,
                                 "triples": 6_408 + 3_883, "entities": 18 + 81}
    assert catalog.items["item_id"].is_unique and catalog.users["user_id"].is_unique
    items = catalog.items.set_index("item_id")
    assert items.loc["Toy Story (1995)"].to_dict() == {
        "title": "Toy Story", "year": "1995", "description": "Animation, Children's, Comedy film from 1995."}
    first = catalog.interactions.iloc[0]
    assert (first["user_id"], first["item_id"], first["rating"], first["timestamp"]) == (
        "1m_1", "One Flew Over the Cuckoo's Nest (1975)", 5.0, 978300760.0)
    assert set(catalog.interactions["item_id"]) <= set(catalog.items["item_id"])
    assert set(catalog.interactions["user_id"]) <= set(catalog.users["user_id"])


@pytest.mark.slow
def test_ml1m_users(ml1m_catalog: Catalog) -> None:
    users = ml1m_catalog.users.set_index("user_id")
    assert users.loc["1m_1"].to_dict() == {"age": "Under 18", "gender": "female", "occupation": "K-12 student", "zip_region": "4"}
    assert users.loc["1m_2"].to_dict() == {"age": "56+", "gender": "male", "occupation": "self-employed", "zip_region": "7"}
    assert users["age"].value_counts()["Under 18"] == 222
    assert set(users["occupation"]) == set(ml1m.OCCUPATIONS)


@pytest.mark.slow
def test_ml1m_facts_read_like_ml100k(ml1m_catalog: Catalog, ml100k_catalog: Catalog) -> None:
    triples, entities = ml1m_catalog.triples, ml1m_catalog.entities
    assert set(triples["relation"]) == FACT_TYPES
    endpoints = pd.concat([triples["head"], triples["tail"]])
    assert endpoints.isin(set(ml1m_catalog.items["item_id"]) | set(entities["entity_id"])).all()
    genres = lambda c: set(c.entities.loc[c.entities["type"] == "genre", "entity_id"])  # noqa: E731
    assert genres(ml1m_catalog) == {e for e in genres(ml100k_catalog) if e.startswith("genre:")}
    assert list(ml1m_catalog.users.columns) == list(ml100k_catalog.users.columns)
    assert list(ml1m_catalog.items.columns) == list(ml100k_catalog.items.columns)
