"""The offline import (``kgrec ingest --bulk``) into a fresh local Neo4j gives the graph that
the Bolt ingest of the same catalog gives, with the same rows rejected and kept aside; a
running or non-empty database is refused with one sentence and left as it was.

The Bolt side uses the test Neo4j (KGREC_NEO4J_URI); the imported one is a local Neo4j of its
own (``scripts/neo4j-local``, a temporary folder and port), started after the import."""
from __future__ import annotations

import csv
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kgrec.kg.errors import StoreError
from kgrec.kg.graph import NodeRef
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import GraphStore
from kgrec.kg.store.neo4j import Neo4jStore
from kgrec.kg.store.neo4j_import import LAUNCHER, Neo4jImport
from helpers import ingest_folder, normalised, write_catalog

ITEMS = ('item_id,title,description,price\n'
         'i1,Heat,"a heist, in L.A.",12.5\n'
         'i2,"The ""Quote"" Film","two\nlines",\n'
         'i3,Alien,,7\n'
         'i1,Duplicate,first wins,1\n'
         ',No id,,\n')
USERS = "user_id,age,gender\n1,25-34,female\nu2,,male\n"
INTERACTIONS = ("user_id,item_id,rating,timestamp\n"
                "1,i1,4,881250949\n1,i2,,\nu2,i3,5,2001-09-09T01:46:40Z\n"
                "u3,i1,3.5,881250000\n"  # a user known only from interactions
                '"u7\nstill u7",i3,4,\n'  # an id with a line break
                "u2,i9,4,881250000\n"    # unknown item
                "u2,i1,eleven,\n"        # bad rating
                "1,i1,2,881250999\n")    # a repeated pair: the latest is kept
TRIPLES = "head,relation,tail\ni1,film.directed_by,m.0abc\ni2,HAS_GENRE,g:drama\ni3,HAS_GENRE,g:drama\ni1,bad`type,x\n"
ENTITIES = "entity_id,name,type\nm.0abc,Michael Mann,director\ng:drama,Drama,genre\n1,Clash,entity\n"


@pytest.fixture
def bolt(neo4j_store: GraphStore) -> Neo4jStore:
    assert isinstance(neo4j_store, Neo4jStore)
    return neo4j_store


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "catalog", items=ITEMS, users=USERS, interactions=INTERACTIONS,
                         triples=TRIPLES, entities=ENTITIES)


def neo4j_local(action: str, data: Path, *options: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(LAUNCHER), action, "--data", str(data), *options], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def constraints(store: Neo4jStore) -> set[tuple[str, str]]:
    records, _, _ = store.driver.execute_query("SHOW CONSTRAINTS YIELD labelsOrTypes, type")
    return {(r["labelsOrTypes"][0], r["type"]) for r in records}


def rejected(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return sorted((row["file"], row["line"], row["reason"]) for row in csv.DictReader(handle))


def test_import_equals_the_bolt_ingest_and_refuses_a_used_database(bolt: Neo4jStore, catalog: Path,
                                                                  tmp_path: Path) -> None:
    over_bolt = ingest_folder(catalog, bolt, Settings.from_env(environ={}, home=tmp_path / "bolt"))
    data = tmp_path / "neo4j"
    settings = Settings.from_env(environ={}, home=tmp_path / "bulk")
    with Neo4jImport(data, settings) as target:
        imported = ingest_folder(catalog, target, settings)

    assert imported.report.rejected == over_bolt.report.rejected
    # no id, a duplicate id, an unknown item, a bad rating, a repeated pair, an unsafe relation
    assert imported.report.rejected_total == 6
    assert rejected(imported.quarantine_path) == rejected(over_bolt.quarantine_path)
    assert imported.report.written == over_bolt.report.written
    assert imported.report.changes == over_bolt.report.changes

    env = neo4j_local("start", data, "--port", str(free_port()), "--heap", "512m", "--pagecache", "128m").stdout
    try:
        values = dict(word.split("=", 1) for word in shlex.split(env) if "=" in word)
        served = Settings.from_env(environ=values, home=tmp_path / "bulk", store="neo4j")
        with Neo4jStore(served) as store:  # first connect: the store's constraints
            assert store.counts() == bolt.counts()
            assert normalised(store.export()) == normalised(bolt.export())
            assert store.version() != "empty"
            assert constraints(store) == constraints(bolt) and len(constraints(store)) == 4
            assert store.node(NodeRef("Item", "i2")) == bolt.node(NodeRef("Item", "i2"))
            done = subprocess.run([sys.executable, "-m", "kgrec.app.cli", "--home", str(tmp_path / "cli"), "ingest",
                                   "--catalog", str(catalog), "--bulk", "--neo4j-data", str(data)],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 2 and done.stdout == ""
            assert done.stderr == (f"kgrec: error: Neo4j in {data.resolve()} is running: stop it (scripts/neo4j-local "
                                   f"stop --data {data.resolve()}) before an offline import, or ingest over Bolt "
                                   "without --bulk\n")
    finally:
        neo4j_local("stop", data)
    with pytest.raises(StoreError, match="is not empty"):
        Neo4jImport(data, settings)


def test_an_import_that_fails_says_why(tmp_path: Path, catalog: Path) -> None:
    data = tmp_path / "neo4j"
    settings = Settings.from_env(environ={}, home=tmp_path / "bulk")
    (data / "data" / "databases").mkdir(parents=True)
    (data / "data" / "databases" / "neo4j").write_text("not a database folder")
    expected = r"importer failed on .* \(exit code \d+\): Unable to write directory path .* \(log: .*import.log\)$"
    with pytest.raises(StoreError, match=expected):
        with Neo4jImport(data, settings) as target:
            ingest_folder(catalog, target, settings)
