"""Bad catalogs: each problem is reported with file, line and field; valid rows are kept;
nothing rejected reaches the store, and under --strict nothing at all."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kgrec.kg.errors import CatalogError, KgrecError, ValidationFailed
from kgrec.kg.graph import NodeRef
from kgrec.kg.limits import MAX_FIELD, MAX_RAW, MAX_REJECTED, MAX_TITLE
from kgrec.kg.reader import read_catalog
from kgrec.kg.settings import Settings
from kgrec.kg.store.base import GraphStore
from helpers import ingest_folder, write_catalog

ITEMS = "item_id,title,description\ni1,Heat,A heist\ni2,Collateral,A hitman\n"
INTERACTIONS = "user_id,item_id,rating,timestamp\nu1,i1,5,881250949\n"


def rejections(folder: Path, store: GraphStore, settings) -> list[tuple[str, int, str | None, str]]:
    result = ingest_folder(folder, store, settings)
    return [(r.file, r.line, r.field, r.reason) for r in result.report.rejections]


def test_ragged_rows_and_broken_quoting(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(
        tmp_path / "c",
        items='item_id,title,description\ni1,Heat,"A heist"\ni2,Broken,"never closed\ni3,Alien,fine\ni4,Ragged,a,b\ni5,"Two\nlines",ok\n',
        interactions=INTERACTIONS,
    )
    assert rejections(folder, store, settings) == [
        ("items.csv", 3, None, "broken_quoting"),
        ("items.csv", 5, None, "malformed_row"),
    ]
    assert store.counts().labels["Item"] == 3
    assert store.node(NodeRef("Item", "i5"))["title"] == "Two\nlines"


def test_file_that_is_not_utf8(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c", items=b"item_id,title\ni1,Caf\xe9 Society\ni2,Heat\n", interactions=INTERACTIONS.replace("i1", "i2"))
    result = ingest_folder(folder, store, settings)
    [rejected] = result.report.rejections
    assert (rejected.file, rejected.line, rejected.reason) == ("items.csv", 2, "not_utf8")
    assert "byte 0xe9" in rejected.message
    assert store.counts().labels["Item"] == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"items": "item_id,description\ni1,x\n", "interactions": INTERACTIONS}, "items.csv: missing required column(s) title"),
        ({"items": "", "interactions": INTERACTIONS}, "items.csv is empty"),
        ({"items": ITEMS}, "no interactions.csv"),
        ({"items": ITEMS, "interactions": INTERACTIONS, "triples": "head,tail\n"}, "triples.csv: missing required column(s) relation"),
        ({"items": "item_id,title,title\n", "interactions": INTERACTIONS}, "column 'title' appears twice"),
    ],
)
def test_file_level_problems_stop_before_writing(files: dict[str, str], message: str, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c", **files)
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_catalog(folder)


@pytest.mark.parametrize("table", ["items", "users"])
def test_a_column_named_id_stops_before_writing(store: GraphStore, settings, tmp_path: Path, table: str) -> None:
    folder = write_catalog(tmp_path / "c", items=ITEMS.replace("description", "id") if table == "items" else ITEMS,
                           users="user_id,id\nu1,7\n" if table == "users" else "user_id,age\nu1,30\n", interactions=INTERACTIONS)
    with pytest.raises(CatalogError, match=f"{table}.csv has a column named 'id'"):
        ingest_folder(folder, store, settings)
    assert store.counts().labels == {"Item": 0, "User": 0, "Entity": 0}


def test_ratings_timestamps_unknown_ids_and_duplicates(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(
        tmp_path / "c",
        items=ITEMS + "i1,Heat again,dup\n",
        interactions="user_id,item_id,rating,timestamp\n"
        "u1,i1,5,881250949\nu1,i2,five,\nu2,i2,11,\nu2,i1,-1,\nu3,nope,4,\nu3,i2,4,yesterday\n,i2,3,\nu4,i1,3,2021-05-01T10:00:00Z\nu4,i1,4,2021-06-01T10:00:00Z\n",
    )
    assert rejections(folder, store, settings) == [
        ("interactions.csv", 3, "rating", "invalid_rating"),
        ("interactions.csv", 4, "rating", "rating_out_of_range"),
        ("interactions.csv", 5, "rating", "rating_out_of_range"),
        ("interactions.csv", 6, "item_id", "unknown_item"),
        ("interactions.csv", 7, "timestamp", "invalid_timestamp"),
        ("interactions.csv", 8, "user_id", "missing_value"),
        ("interactions.csv", 9, None, "duplicate_interaction"),
        ("items.csv", 4, "item_id", "duplicate_id"),
    ]
    export = store.export()
    assert export.ids("User") == ["u1", "u4"]
    kept = export.edges[("INTERACTED", "User", "Item")]
    assert sorted(kept["rating"].tolist()) == [4.0, 5.0]
    assert store.node(NodeRef("Item", "i1"))["title"] == "Heat"


def test_triples_with_unknown_ids_and_a_cypher_injection(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(
        tmp_path / "c",
        items=ITEMS,
        interactions=INTERACTIONS,
        entities="entity_id,name,type\nmann,Michael Mann,director\ni2,Clash,director\n",
        triples="head,relation,tail\ni1,directed_by,mann\ni2,directed_by,ghost\n"
        "i1,X]->() DETACH DELETE n //,mann\ni1,`evil`,mann\ni1,has_attribute,mann\ni1,directed_by,mann\n",
    )
    assert rejections(folder, store, settings) == [
        ("entities.csv", 3, "entity_id", "id_collision"),
        ("triples.csv", 3, "tail", "unknown_id"),
        ("triples.csv", 4, "relation", "invalid_relation"),
        ("triples.csv", 5, "relation", "invalid_relation"),
        ("triples.csv", 6, "relation", "reserved_relation"),
        ("triples.csv", 7, None, "duplicate_triple"),
    ]
    counts = store.counts()
    assert counts.types == {"DIRECTED_BY": 1, "INTERACTED": 1}
    assert counts.labels == {"Item": 2, "User": 1, "Entity": 1}


def test_strict_writes_nothing(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c", items=ITEMS, interactions=INTERACTIONS + "u2,i9,4,\n")
    with pytest.raises(ValidationFailed, match="interactions.csv, line 3, field 'item_id'"):
        ingest_folder(folder, store, settings, strict=True)
    counts = store.counts()
    assert sum(counts.labels.values()) == 0 and counts.types == {}


def test_quarantine_keeps_every_rejected_row(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c", items=ITEMS + ",No id,\n", interactions=INTERACTIONS + "u2,i9,4,\n")
    result = ingest_folder(folder, store, settings)
    lines = result.quarantine_path.read_text().splitlines()
    assert lines[0] == "file,line,field,reason,message,raw"
    assert len(lines) == 3 and "u2,i9,4," in result.quarantine_path.read_text()
    report = result.report.to_dict()
    assert report["rejected"] == {"interactions.csv": {"unknown_item": 1}, "items.csv": {"missing_value": 1}}


def test_quarantine_neutralises_formulas(store: GraphStore, settings, tmp_path: Path) -> None:
    """rejected.csv is opened in spreadsheets: no cell from a file may start a formula (OWASP)."""
    hostile = ["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", "\tx=1"]
    items = "item_id,title,description\n" + "".join(f"{h},,x\n" for h in hostile) + "i1,Heat,ok\n"
    folder = write_catalog(tmp_path / "c", items=items, interactions=INTERACTIONS)
    result = ingest_folder(folder, store, settings)
    assert len(result.report.rejections) == len(hostile)
    with result.quarantine_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["raw"] for row in rows] == [f"'{h},,x" for h in hostile]
    assert not [cell for row in rows for cell in row.values() if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_a_short_pseudonym_key_is_refused(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c", items=ITEMS, interactions=INTERACTIONS)
    with pytest.raises(KgrecError, match="KGREC_PSEUDONYM_KEY has 1 character.s.; a pseudonym key needs at least 16"):
        ingest_folder(folder, store, settings.with_(pseudonym_key="k"), pseudonymize=True)
    with pytest.raises(KgrecError, match="needs at least 16"):
        Settings.from_env(environ={"KGREC_PSEUDONYM_KEY": "fifteen-chars.."}, home=tmp_path)
    assert store.counts().labels["User"] == 0


def test_jsonl_tables(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(
        tmp_path / "c",
        **{
            "items.jsonl": '{"item_id": "i1", "title": "Heat", "year": 1995}\n{"item_id": "i2"}\nnot json\n',
            "interactions.jsonl": '{"user_id": "u1", "item_id": "i1", "rating": 4.5}\n',
        },
    )
    assert rejections(folder, store, settings) == [
        ("items.jsonl", 2, "title", "empty_title"),
        ("items.jsonl", 3, None, "invalid_json"),
    ]
    assert store.node(NodeRef("Item", "i1"))["year"] == "1995"


def test_jsonl_lines_no_store_could_hold(store: GraphStore, settings, tmp_path: Path) -> None:
    """Escapes that decode to a lone surrogate, nesting past the recursion limit and numbers
    of more than 4,300 digits reject their line only."""
    folder = write_catalog(
        tmp_path / "c",
        **{
            "items.jsonl": '{"item_id": "i1", "title": "Heat"}\n{"item_id": "i2", "title": "Caf\\udcff"}\n'
            + '{"item_id": "i3", "title": "Deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
            + '{"item_id": "i4", "title": "Long", "year": ' + "1" * 4301 + "}\n",
            "interactions.jsonl": '{"user_id": "u1", "item_id": "i1"}\n',
        },
    )
    assert rejections(folder, store, settings) == [
        ("items.jsonl", 2, "title", "not_utf8"),
        ("items.jsonl", 3, None, "invalid_json"),
        ("items.jsonl", 4, None, "invalid_json"),
    ]
    assert store.export().ids("Item") == ["i1"]


def test_pseudonymized_users_never_reach_the_store(store: GraphStore, settings, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c", items=ITEMS, interactions=INTERACTIONS, users="user_id,gender\nu1,female\n")
    ingest_folder(folder, store, settings.with_(pseudonym_key="a-secret-of-24-characters"), pseudonymize=True)
    [user] = store.export().ids("User")
    assert user.startswith("u_") and "u1" not in user
    assert store.counts().types == {"HAS_ATTRIBUTE": 1, "INTERACTED": 1}


def test_the_setting_pseudonymizes_every_ingest(store: GraphStore, settings, tmp_path: Path) -> None:
    """KGREC_PSEUDONYMIZE=1: no flag needed, raw ids reach neither the store nor the report."""
    folder = write_catalog(tmp_path / "c", items=ITEMS, interactions=INTERACTIONS + "raw-77,i9,4,\nraw-77,i1,x,y,z\n",
                           users="user_id,gender\nraw-77,female\n")
    on = settings.with_(pseudonymize=True, pseudonym_key="a-key-of-some-length")
    result = ingest_folder(folder, store, on)
    assert not [u for u in store.export().ids("User") if not u.startswith("u_")]
    assert {r.reason for r in result.report.rejections} == {"unknown_item", "malformed_row"}
    for written in (result.report_path, result.quarantine_path):
        assert "raw-77" not in written.read_text() and "u1," not in written.read_text()
    with pytest.raises(KgrecError, match="KGREC_PSEUDONYMIZE=1 needs a secret key"):
        Settings.from_env(environ={"KGREC_PSEUDONYMIZE": "1"}, home=tmp_path)
    assert Settings.from_env(environ={"KGREC_PSEUDONYMIZE": "1", "KGREC_PSEUDONYM_KEY": "k" * 20}, home=tmp_path).pseudonymize


def test_rejected_rows_beyond_the_cap_are_counted(store: GraphStore, settings, tmp_path: Path) -> None:
    rows = MAX_REJECTED + 50
    folder = write_catalog(tmp_path / "c", items=ITEMS,
                           interactions="user_id,item_id\n" + "".join(f"u{n},no-such-item\n" for n in range(rows)))
    result = ingest_folder(folder, store, settings)
    assert result.report.rejected_total == rows and len(result.report.rejections) == MAX_REJECTED
    assert result.report.rejected == {"interactions.csv": {"unknown_item": rows}}
    with result.quarantine_path.open(newline="", encoding="utf-8") as quarantine:
        lines = list(csv.reader(quarantine))
    assert len(lines) == 1 + MAX_REJECTED + 1
    assert lines[-1][3] == "left_out" and lines[-1][4].startswith("50 more rejected rows are counted in report.json")
    saved = json.loads(result.report_path.read_text())
    assert saved["rejected_total"] == rows and saved["rejected_left_out"] == 50
    assert "... and 10,040 more in the quarantine file (50 of them counted only)" in result.report.render()


def test_fields_over_the_limits_are_rejected(store: GraphStore, settings, tmp_path: Path) -> None:
    long_title, long_text = "t" * (MAX_TITLE + 1), "d" * (MAX_FIELD + 1)
    folder = write_catalog(tmp_path / "c", items=f"item_id,title,description\ni1,Heat,ok\ni2,{long_title},x\ni3,Alien,{long_text}\n",
                           interactions=INTERACTIONS)
    assert rejections(folder, store, settings) == [("items.csv", 3, "title", "title_too_long"),
                                                   ("items.csv", 4, None, "field_too_long")]
    folder = write_catalog(tmp_path / "j", **{"items.jsonl": f'{{"item_id": "i1", "title": "Heat"}}\n{{"item_id": "i4", "title": "A", "plot": "{long_text}"}}\n',
                                              "interactions.csv": INTERACTIONS})
    result = ingest_folder(folder, store, settings)
    [rejected] = result.report.rejections
    assert (rejected.line, rejected.field, rejected.reason) == (2, "plot", "field_too_long")
    assert len(rejected.raw) <= MAX_RAW  # the quarantine keeps an excerpt of a huge row


def test_tables_over_the_size_or_row_limit_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kgrec.kg.reader
    folder = write_catalog(tmp_path / "c", items=ITEMS, interactions=INTERACTIONS)
    monkeypatch.setattr(kgrec.kg.reader, "MAX_ROWS", 2)  # the limit itself is 5,000,000 rows: too many for a test file
    with pytest.raises(CatalogError, match="items.csv has more than 2 rows, the most a table may have"):
        read_catalog(folder)
    monkeypatch.setattr(kgrec.kg.reader, "MAX_TABLE_BYTES", 40)
    with pytest.raises(CatalogError, match="items.csv has 0 MB; a table may have at most 0 MB"):
        read_catalog(folder)
