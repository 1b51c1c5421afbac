"""Catalog uploads in the app (app/ui/uploads.py staging the files, the Catalog tab's
ingest): valid and rejected rows, zips, file-level errors, bounded work per upload
(zip bombs, the CLI's limits), pseudonymisation. Over a copy of the shared tiny model's
home (the ``writable`` fixture in tests/conftest.py).
"""
from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest

from kgrec.app.ui.actions import IngestView, UiActions
from kgrec.kg.graph import NodeRef
from ui_support import STAR_WARS, write_files


# --- upload a catalog ---------------------------------------------------------------------------


def test_upload_ingests_valid_rows_and_lists_rejected_ones(writable: UiActions, tmp_path: Path) -> None:
    files = write_files(
        tmp_path,
        items_csv="item_id,title,description\nup-1,Upload One,A film about uploads\nup-2,,no title\n",
        interactions_csv="user_id,item_id,rating\nup-user,up-1,5\nup-user,50,4\nup-user,no-such-item,3\n",
        users_csv="user_id,gender\nup-user,female\n",
    )
    view = writable.ingest_upload(files)
    assert view.ok, view.markdown
    assert "**Rejected:** 2 row(s)" in view.markdown
    assert set(view.rejected["reason"]) == {"empty_title", "unknown_item"}
    assert set(view.rejected["file"]) == {"items.csv", "interactions.csv"}
    assert "up-1" in writable.service.item_index and "up-2" not in writable.service.item_index
    # The new user is known at once, without retraining.
    assert "up-user" in writable.known_users()
    assert writable.recommend(user_id="up-user", k=3).ok


def test_a_second_upload_of_the_same_rows_reads_as_nothing_new(writable: UiActions, tmp_path: Path) -> None:
    files = dict(items_csv="item_id,title\nre-1,Uploaded Twice\nre-2,Also Twice\n",
                 interactions_csv="user_id,item_id,rating\nre-user,re-1,4\n")
    first = writable.ingest_upload(write_files(tmp_path / "first", **files))
    assert first.markdown.startswith("**Ingested** into the embedded store: items.csv 2 row(s), interactions.csv 1 row(s).")
    assert "items 2 new, 0 updated, 0 unchanged" in first.markdown and "interactions 1 new" in first.markdown
    again = writable.ingest_upload(write_files(tmp_path / "again", **files))
    assert again.ok and again.markdown.startswith("**Nothing new:** the 3 valid row(s) are in the embedded store already")
    assert "items 0 new, 0 updated, 2 unchanged" in again.markdown
    files["items_csv"] = "item_id,title\nre-1,Uploaded Twice (retitled)\nre-2,Also Twice\n"
    changed = writable.ingest_upload(write_files(tmp_path / "changed", **files))
    assert changed.markdown.startswith("**Ingested**") and "items 0 new, 1 updated, 1 unchanged" in changed.markdown


def test_upload_of_a_non_utf8_file(writable: UiActions, tmp_path: Path) -> None:
    files = write_files(
        tmp_path,
        items_csv="item_id,title\nlatin-1,Caf\xe9 latin\n".encode("latin-1"),
        interactions_csv="user_id,item_id\n",
    )
    view = writable.ingest_upload(files)
    assert "**Rejected:** 1 row(s)" in view.markdown
    assert view.rejected["reason"].tolist() == ["not_utf8"]
    assert "save the file as UTF-8" in view.rejected["message"].iloc[0]


def test_upload_of_a_zip(writable: UiActions, tmp_path: Path) -> None:
    archive = tmp_path / "catalog.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("my-catalog/items.jsonl", '{"item_id": "zip-1", "title": "Zipped"}\n')
        out.writestr("my-catalog/interactions.csv", "user_id,item_id\n")
        out.writestr("__MACOSX/my-catalog/._items.jsonl", "junk")
        out.writestr("my-catalog/notes.txt", "ignored")
    view = writable.ingest_upload([archive])
    assert view.ok, view.markdown
    assert "zip-1" in writable.service.item_index


@pytest.mark.parametrize(("files", "message"), [
    ({}, "no files were uploaded"),
    ({"items_csv": "item_id,title\nx,y\n"}, "has no interactions.csv"),
    ({"items_csv": "id,name\nx,y\n", "interactions_csv": "user_id,item_id\n"}, "missing required column(s) item_id, title"),
    ({"items_csv": "", "interactions_csv": "user_id,item_id\n"}, "items.csv is empty"),
    ({"movies_csv": "a\n"}, "'movies.csv' is not a catalog table"),
    ({"items_csv": "item_id,title\n", "items_jsonl": "{}\n", "interactions_csv": "user_id,item_id\n"}, "has both items.csv and items.jsonl"),
])
def test_upload_file_level_errors_ingest_nothing(writable: UiActions, tmp_path: Path, files: dict, message: str) -> None:
    before = len(writable.service.item_ids)
    view = writable.ingest_upload(write_files(tmp_path, **files) if files else [])
    assert not view.ok
    assert view.markdown.startswith("**Nothing was ingested.**")
    assert message.replace("_", "\\_") in view.markdown
    assert len(writable.service.item_ids) == before


def test_upload_of_a_broken_zip(writable: UiActions, tmp_path: Path) -> None:
    archive = tmp_path / "catalog.zip"
    archive.write_bytes(b"not a zip")
    assert "is not a readable zip file" in writable.ingest_upload([archive]).markdown
    with zipfile.ZipFile(two := tmp_path / "two.zip", "w") as out:
        out.writestr("a/items.csv", "item_id,title\n")
        out.writestr("b/items.csv", "item_id,title\n")
    assert "it has 2: a, b" in writable.ingest_upload([two]).markdown


def test_strict_upload_writes_nothing(writable: UiActions, tmp_path: Path) -> None:
    files = write_files(tmp_path, items_csv="item_id,title\nstrict-1,Fine\nstrict-2,\n", interactions_csv="user_id,item_id\n")
    view = writable.ingest_upload(files, strict=True)
    assert not view.ok and "**Nothing was ingested** (strict): 1 row(s) rejected" in view.markdown
    assert "strict-1" not in writable.service.item_index


# --- bounded work per upload ----------------------------------------------------------------------


def _duplicate_rows_zip(path: Path) -> Path:
    """About 12 KB that expand to a million identical interactions."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        out.writestr("bomb/items.csv", "item_id,title\nbomb-1,Bomb\n")
        out.writestr("bomb/interactions.csv", "user_id,item_id\n" + "u,50\n" * 1_000_000)
    return path


def _nul_zip(path: Path) -> Path:
    """About 1 MB that expand to 1 GiB of NULs."""
    chunk = bytes(1024**2)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        out.writestr("nul/interactions.csv", "user_id,item_id\n")
        with out.open("nul/items.csv", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(chunk)
    return path


@pytest.mark.parametrize("build", [_duplicate_rows_zip, _nul_zip], ids=["1M-duplicate-rows", "1GiB-of-NULs"])
def test_zip_bombs_are_refused_at_once(writable: UiActions, tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    import time

    archive = build(tmp_path / "bomb.zip")
    assert archive.stat().st_size < 2 * 1024**2
    reports = writable.service.settings.reports_dir
    before = sorted(reports.iterdir()) if reports.exists() else []
    started = time.perf_counter()
    view = writable.ingest_upload([archive])
    elapsed = time.perf_counter() - started
    assert not view.ok and view.markdown.startswith("**Nothing was ingested.**")
    assert "zip bomb" in view.markdown or "at most 256 MB" in view.markdown
    assert elapsed < 2, f"refused after {elapsed:.2f} s"
    assert "bomb-1" not in writable.service.item_index
    assert (sorted(reports.iterdir()) if reports.exists() else []) == before  # no report, no 1 GiB rejected.csv


def test_upload_limits_are_the_cli_limits(writable: UiActions, tmp_path: Path) -> None:
    from kgrec.kg.limits import MAX_FIELD, MAX_TITLE

    long_title, long_field = "t" * (MAX_TITLE + 1), "d" * (MAX_FIELD + 1)
    files = write_files(tmp_path, items_csv=f"item_id,title,description\nlim-1,{long_title},x\nlim-2,Fine,{long_field}\nlim-3,Fine,ok\n",
                        interactions_csv="user_id,item_id\n")
    view = writable.ingest_upload(files)
    assert view.ok and set(view.rejected["reason"]) == {"title_too_long", "field_too_long"}
    assert f"at most {MAX_TITLE:,} are allowed" in " ".join(view.rejected["message"])
    assert "lim-3" in writable.service.item_index and not {"lim-1", "lim-2"} & set(writable.service.item_index)
    assert max(len(r) for r in view.rejected["raw"]) <= 200  # the page shows a short excerpt
    # add-item: the same caps
    assert f"at most {MAX_TITLE:,} are allowed" in writable.add_item(long_title).markdown
    assert f"at most {MAX_FIELD:,} are allowed" in writable.add_item("Fine", long_field).markdown


def test_readers_are_served_while_an_upload_is_checked(writable: UiActions, tmp_path: Path) -> None:
    import time

    rows = ("user_id,item_id\n" + "".join(f"slow-{n},50\n" for n in range(1_000))
            + "".join(f"slow-{n},no-such-item\n" for n in range(599_000)))
    files = write_files(tmp_path, items_csv="item_id,title\nslow-item,Slow\n", interactions_csv=rows)
    done: list[IngestView] = []
    upload = threading.Thread(target=lambda: done.append(writable.ingest_upload(files)))
    latencies = []
    upload.start()
    while upload.is_alive():
        started = time.perf_counter()
        assert writable.recommend(liked=list(STAR_WARS), k=5).ok
        latencies.append(time.perf_counter() - started)
    upload.join()
    assert done and done[0].ok
    assert "(the first 1,000)" in done[0].markdown and "**Rejected:** 599,000 row(s)" in done[0].markdown
    # Only loading and reloading (a moment at the end) hold readers back, not reading and validating.
    assert len(latencies) >= 3 and sorted(latencies)[len(latencies) // 2] < 2, latencies


# --- pseudonymisation -------------------------------------------------------------------------


def test_uploads_are_pseudonymised_when_the_setting_is_on(writable: UiActions, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from kgrec.kg.pseudonymize import pseudonym

    key = "a-pseudonym-key-long-enough"
    monkeypatch.setattr(writable.service, "settings", writable.service.settings.with_(pseudonymize=True, pseudonym_key=key))
    raw = "raw-person-4711"
    files = write_files(tmp_path, items_csv="item_id,title\npse-1,Private\n",
                        users_csv=f"user_id,gender\n{raw},female\n{raw},male\n",
                        interactions_csv=f"user_id,item_id,rating\n{raw},pse-1,5\n{raw},no-such-item,4\n{raw},50,oops,extra\n")
    view = writable.ingest_upload(files)
    assert view.ok, view.markdown
    assert sorted(view.rejected["reason"]) == ["duplicate_id", "malformed_row", "unknown_item"]
    hidden = pseudonym(raw, key)
    assert hidden in writable.known_users() and raw not in writable.known_users()
    assert raw not in view.markdown and raw not in view.rejected.to_csv()
    folder = writable.service.settings.reports_dir / view.markdown.split("Report: ")[1].split()[0].strip("`\\")
    assert folder.is_dir()
    for written in folder.iterdir():
        assert raw not in written.read_text(encoding="utf-8"), written.name
    assert writable.service.store.node(NodeRef("User", raw)) is None
