"""The CLI as a user runs it: exit codes, JSON output, and one-sentence errors (no traceback)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, neo4j_settings


def kgrec(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": str(home)} | env
    return subprocess.run([sys.executable, "-m", "kgrec.app.cli", *args], capture_output=True, text=True, env=environ, timeout=300)


def test_ingest_then_stats_json(tmp_path: Path) -> None:
    done = kgrec("ingest", "--catalog", str(FIXTURES / "tiny"), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rejected: none" in done.stdout
    stats = json.loads(kgrec("stats", "--json", home=tmp_path).stdout)
    assert {k: stats[k] for k in ("items", "users", "entities", "interactions", "triples")} == {
        "items": 4, "users": 3, "entities": 9, "interactions": 5, "triples": 7,
    }
    assert stats["relationships"]["DIRECTED_BY"] == 2


def test_strict_failure_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    catalog = tmp_path / "bad"
    catalog.mkdir()
    (catalog / "items.csv").write_text("item_id,title\ni1,\n")
    (catalog / "interactions.csv").write_text("user_id,item_id\n")
    done = kgrec("ingest", "--catalog", str(catalog), "--strict", home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.startswith("kgrec: error: --strict: 1 row(s) rejected, nothing was written. First: items.csv, line 2, field 'title'")
    assert "Traceback" not in done.stderr


def test_missing_catalog_folder(tmp_path: Path) -> None:
    done = kgrec("ingest", "--catalog", str(tmp_path / "nowhere"), home=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_unreachable_neo4j_is_one_sentence(tmp_path: Path) -> None:
    done = kgrec("stats", home=tmp_path, KGREC_NEO4J_URI="bolt://127.0.0.1:9", KGREC_NEO4J_PASSWORD="x")
    assert done.returncode == 2
    assert done.stderr.startswith("kgrec: error: cannot reach Neo4j at bolt://127.0.0.1:9")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.neo4j
def test_wrong_neo4j_password_is_one_sentence(tmp_path: Path) -> None:
    uri = neo4j_settings(tmp_path).neo4j_uri
    done = kgrec("stats", home=tmp_path, KGREC_NEO4J_URI=uri, KGREC_NEO4J_PASSWORD="wrong-password")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"kgrec: error: Neo4j at {uri} refused user 'neo4j': check KGREC_NEO4J_USER and KGREC_NEO4J_PASSWORD"
    )


@pytest.mark.parametrize("args", [["--help"], ["stats", "--store", "embedded"], ["data", "list"], ["ingest", "--help"]])
def test_light_verbs_never_import_torch(args: list[str], tmp_path: Path) -> None:
    probe = ("import sys\nfrom kgrec.app.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('torch', 'torch_geometric', 'sentence_transformers', 'gradio') if m in sys.modules)\n"
             "print('heavy:', ','.join(heavy), file=sys.stderr)\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=environ, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "heavy:", done.stderr


def test_every_verb_still_has_its_parser() -> None:
    from kgrec.app.cli import COMMANDS, build_parser, verb_of

    assert verb_of(["--home", "stats", "-v", "train", "--epochs", "3"]) == "train"
    assert verb_of(["--help"]) is None
    for verb in COMMANDS:
        parser = build_parser(verb)
        sub = next(a for a in parser._actions if a.dest == "command")
        assert sub.choices[verb]._actions[1:], f"{verb} has its arguments"


@pytest.mark.parametrize("blocked", ["home", "reports"])
def test_unwritable_home_is_one_sentence_before_reading(tmp_path: Path, blocked: str) -> None:
    """A KGREC_HOME that cannot be written (here: a path through a regular file, which even
    root cannot write into) stops the ingest before the catalog is read."""
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "home" if blocked == "home" else tmp_path / "home"
    if blocked == "reports":
        home.mkdir()
        (home / "reports").write_text("")
    done = kgrec("ingest", "--catalog", str(FIXTURES / "tiny"), home=home)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("kgrec: error: cannot write to ") and "must be a writable folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "accepted:" not in done.stdout


@pytest.mark.parametrize("table", ["items", "users"])
def test_a_column_named_id_is_one_sentence(tmp_path: Path, table: str) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "items.csv").write_text("item_id,title,id\ni1,Heat,7\n" if table == "items" else "item_id,title\ni1,Heat\n")
    (catalog / "users.csv").write_text("user_id,id\nu1,7\n" if table == "users" else "user_id,age\nu1,30\n")
    (catalog / "interactions.csv").write_text("user_id,item_id\nu1,i1\n")
    done = kgrec("ingest", "--catalog", str(catalog), home=tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"kgrec: error: {table}.csv has a column named 'id', which kgrec keeps for node ids "
                                   f"({table[:-1]}_id is the id): rename that column, e.g. to source_id")


def test_train_into_an_unwritable_home_fails_at_once_in_one_sentence(tmp_path: Path) -> None:
    assert kgrec("ingest", "--catalog", str(FIXTURES / "tiny"), home=tmp_path).returncode == 0
    (tmp_path / "models").write_text("not a folder")
    done = kgrec("train", "--epochs", "1", "--device", "cpu", home=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"kgrec: error: cannot write the model folder {tmp_path / 'models' / 'default'}")
    assert "training" not in done.stdout


def test_neo4j_data_needs_bulk(tmp_path: Path) -> None:
    done = kgrec("ingest", "--catalog", str(FIXTURES / "tiny"), "--neo4j-data", str(tmp_path / "neo4j"), home=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("kgrec: error: --neo4j-data goes with --bulk")
