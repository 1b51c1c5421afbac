"""The app's actions without a browser: recommend, explain, search, explore, add an item,
model info; plus the layout's endpoints, access control and the serve command's checks.
Uploads are in test_uploads.py.

All tests share one tiny model trained once on a small real catalog (tests/ui_support.py;
the ``actions`` and ``writable`` fixtures in tests/conftest.py); tests that write to the
store work on a copy of it.
"""
from __future__ import annotations

import argparse
import re
import threading
from pathlib import Path

import pytest
from PIL import Image

from kgrec.app.markup import escape
from kgrec.app.ui.actions import UiActions
from kgrec.app.ui.actions.model import NO_EVALUATION
from kgrec.app.ui.actions.recommend import NOTHING_GIVEN
from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import KgrecError
from kgrec.kg.new_item import MAX_DESCRIPTION
from kgrec.kg.settings import Settings
from ui_support import STAR_WARS, copy_home, settings_for, write_files

SCI_FI_LINKS = ["IN_GENRE|genre:Sci-Fi", "IN_GENRE|genre:Action", "IN_GENRE|genre:Adventure"]
STAR_WARS_DIRECTOR = "m.07nznf"
"""Star Wars' director in the linked Freebase graph (named only by its id there)."""


# --- recommend ------------------------------------------------------------------------------


def test_a_new_user_from_liked_items_gets_explained_recommendations(actions: UiActions) -> None:
    view = actions.recommend(liked=list(STAR_WARS), k=5)
    assert view.ok
    assert list(view.table.columns) == ["rank", "item_id", "title", "score"]
    assert view.table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert not set(view.table["item_id"]) & set(STAR_WARS)
    assert view.table["title"].str.len().min() > 0
    assert "You liked *" in view.markdown
    assert all(item.get("explanations") for item in view.items)
    assert [value for _, value in view.choices()] == view.table["item_id"].tolist()


def test_a_known_user_and_attributes(actions: UiActions) -> None:
    user = actions.known_users()[0]
    view = actions.recommend(user_id=user, k=3)
    assert view.ok and len(view.table) == 3
    attributes = actions.attribute_choices()
    assert {"female", "male"} <= set(attributes["gender"])
    view = actions.recommend(attributes={"gender": "female", "occupation": "no-such-job"}, k=3)
    assert view.ok and len(view.table) == 3
    assert "**Warning:** attribute occupation='no-such-job' is not in the graph" in view.markdown


def test_free_text_alone(actions: UiActions) -> None:
    view = actions.recommend(text="a space adventure with jedi knights", k=3)
    assert view.ok and len(view.table) == 3
    assert "Words alone have no path in the graph" in view.markdown
    assert "No path of at most three hops" not in view.markdown


def test_link_choices_are_named_entities_of_small_types(actions: UiActions) -> None:
    choices = dict(actions.link_choices())
    assert choices["genre: Sci-Fi"] == "IN_GENRE|genre:Sci-Fi"
    assert choices["year: 1977"] == "RELEASED_IN|year:1977"
    assert not [label for label in choices if " m." in label]  # Freebase codes are not names


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"user_id": "no-such-user"}, "unknown user_id 'no-such-user'"),
    ({"liked": ["50", "no-such-item"]}, "'no-such-item' is no item of the catalog: type words of a title in the "
                                        "liked-items picker and pick the item from the list."),
])
def test_unknown_ids_give_a_message(actions: UiActions, kwargs: dict, message: str) -> None:
    view = actions.recommend(**kwargs)
    assert not view.ok
    assert view.markdown == f"**Error:** {escape(message)}"  # the id typed is shown as text
    assert view.table.empty and view.items == []


def test_the_liked_items_are_items_of_the_catalog(actions: UiActions) -> None:
    assert actions.liked_items(["50", "Return of the Jedi (181)", "empire strikes back, the", "Star Wars (1977)"]) == \
        (["50", "181", "172"], ["Star Wars (1977)"])
    view = actions.recommend(liked=["Star Wars (1977)"])
    assert not view.ok and view.markdown.startswith("**Error:** 'Star Wars (1977)' is no item of the catalog")


def test_an_empty_request_falls_back_to_popularity(actions: UiActions) -> None:
    view = actions.recommend(k=3)
    assert view.ok and len(view.table) == 3
    assert view.markdown.startswith(f"> {NOTHING_GIVEN}\n")
    assert "Words alone" not in view.markdown and "Fallback" not in view.markdown  # nobody gave words
    assert view.table["score"].isna().all()  # interaction counts are no scores
    assert re.search(r"— \d+ interactions", view.markdown) and not re.search(r"\d\.0000", view.markdown)


def test_scores_are_rounded(actions: UiActions) -> None:
    view = actions.recommend(liked=list(STAR_WARS), k=3)
    assert all(len(str(score).split(".")[-1]) <= 3 for score in view.table["score"])
    assert re.findall(r"score (\d+\.\d+)", view.markdown) and all(
        len(figure.split(".")[1]) == 3 for figure in re.findall(r"score (\d+\.\d+)", view.markdown))


def test_fewer_results_than_asked_say_why(actions: UiActions) -> None:
    view = actions.recommend(liked=list(STAR_WARS), k=1000)
    total = len(actions.service.item_ids)
    assert len(view.table) == total - 3
    assert f"> {total - 3:,} items, not the 1,000 asked: the catalog has {total:,} items, and 3 of them are left out " \
        "as the user's own or liked." in view.markdown
    assert "not the" not in actions.recommend(liked=list(STAR_WARS), k=5).markdown


def test_only_new_items_when_there_are_none(actions: UiActions) -> None:
    view = actions.recommend(liked=list(STAR_WARS), only_new=True)
    assert not view.ok and "there is no new item" in view.markdown


# --- explain ---------------------------------------------------------------------------------


def test_explain_view_draws_the_paths(actions: UiActions) -> None:
    view = actions.recommend(liked=list(STAR_WARS), k=3)
    item = view.items[0]
    shown = actions.explain_view(view.items, str(item["item_id"]))
    assert isinstance(shown.image, Image.Image) and shown.image.size == (1000, 560)
    assert shown.markdown.startswith(f"**{item['title']}**") or item["title"] in shown.markdown
    assert "1. You liked" in shown.markdown
    assert list(shown.table.columns) == ["path", "hop", "from", "relationship", "to"]
    assert shown.table["path"].max() == len(item["explanations"])
    # Every hop drawn is a real relationship in the store.
    for explanation in item["explanations"]:
        for node in explanation["nodes"]:
            assert actions.service.store.node(_ref(node)) is not None


def test_explain_view_messages(actions: UiActions) -> None:
    assert "Get recommendations first" in actions.explain_view([], None).markdown
    view = actions.recommend(liked=list(STAR_WARS), k=2)
    wrong = actions.explain_view(view.items, "no-such-item")
    assert wrong.image is None and "is not among the current recommendations" in wrong.markdown
    # A new item with text only has no path: the items its text is nearest to are its reason.
    new = {"item_id": "new-1", "title": "Fine <b>film</b>", "explanations": [],
           "text_neighbours": [{"item_id": "50", "name": "Star Wars", "weight": 0.6}]}
    shown = actions.explain_view([new], "new-1")
    assert "no path of at most three hops" in shown.markdown and "*Star Wars* (60%)" in shown.markdown
    assert "<b>" not in shown.markdown and shown.image is None


# --- search and explore ------------------------------------------------------------------


def test_search_by_title_words(actions: UiActions) -> None:
    found = actions.search_items("STAR wars")
    assert set(found["item_id"]) == {"50"}
    assert list(found.columns) == ["item_id", "title", "description", "match"]
    assert set(actions.search_items("star")["item_id"]) >= {"50", "228"}
    assert actions.search_items("").empty
    assert actions.search_items("no such title at all").empty
    assert set(actions.search_items("wars STAR")["item_id"]) == {"50"}  # every word, any order
    assert set(actions.search_items("empire back")["item_id"]) == {"172"}


def test_the_liked_items_picker_finds_the_sequels(actions: UiActions) -> None:
    choices = actions.item_choices("star wars")
    assert choices[0] == ("Star Wars (50)", "50")  # the title's words first
    assert {"172", "181"} <= {value for _, value in choices}  # then by meaning: titled otherwise
    assert [value for _, value in actions.item_choices("the empire strikes")][:1] == ["172"]
    assert actions.item_choices("") == []


def test_search_by_meaning(actions: UiActions) -> None:
    found = actions.search_items("jedi knights and the galactic empire", semantic=True, limit=10)
    assert len(found) == 10
    assert set(found["item_id"]) & set(STAR_WARS)
    assert found["match"].is_monotonic_decreasing
    assert all(len(repr(match)) <= 4 for match in found["match"])  # 0.57, never 0.5699999928474426


def test_neighbourhood(actions: UiActions) -> None:
    view = actions.neighbourhood("Item", "50")
    assert "**Star Wars** (Item 50)" in view.markdown
    relations = view.table["relationship"].tolist()
    assert "IN_GENRE" in relations and "INTERACTED" in relations
    assert relations.index("IN_GENRE") < relations.index("INTERACTED")  # facts before users
    assert isinstance(view.image, Image.Image)
    entity = actions.neighbourhood("Entity", "genre:Sci-Fi")
    assert "50" in entity.table["id"].tolist()


@pytest.mark.parametrize(("label", "node", "message"), [
    ("Item", "no-such-item", "there is no Item with id 'no-such-item'"),
    ("Movie", "50", "unknown label 'Movie'"),
    ("Item", "  ", "Give a node id"),
])
def test_neighbourhood_messages(actions: UiActions, label: str, node: str, message: str) -> None:
    view = actions.neighbourhood(label, node)
    assert message in view.markdown and view.image is None and view.table.empty


# --- the model -----------------------------------------------------------------------------


def test_model_info(actions: UiActions) -> None:
    text, table, curve = actions.model_info()
    assert "**Model:** default" in text and "16 dimensions, 2 layers" in text
    assert NO_EVALUATION in text and "evaluate" not in text.replace(NO_EVALUATION, "")
    assert table.empty and "Recall@K" in table.columns
    assert str(actions.service.model_dir) not in text and "/" not in text.replace("\\", "")  # no server path
    assert curve is not None and Path(curve).name == "training_curve.png" and Path(curve).is_file()


# --- add an item ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "message"), [
    ({"title": "  "}, "the title is empty"),
    ({"title": "t" * 501}, "at most 500 are allowed"),
    ({"title": "Long", "description": "d" * 100_000}, f"at most {MAX_DESCRIPTION:,} are allowed"),
    ({"title": "Dup", "item_id": "50"}, "an item with id '50' already exists"),
    ({"title": "Props", "properties": "no equals sign"}, "write one 'name = value' per line"),
    ({"title": "Props", "properties": "bad name = 1"}, "write one 'name = value' per line"),
    ({"title": "Link", "more_links": "DIRECTED_BY = Nobody Famous"}, "no entity has the id or name 'Nobody Famous'"),
    ({"title": "Link", "more_links": "BAD`REL = genre:Drama"}, "is not a valid relation name"),
    ({"title": "Link", "links": ["nonsense"]}, "pick links from the list"),
    ({"title": "Link", "links": ["IN_GENRE|genre:No-such-genre"]}, "no entity has the id 'genre:No-such-genre'"),
])
def test_add_item_refuses_bad_input(writable: UiActions, fields: dict, message: str) -> None:
    before = len(writable.service.item_ids)
    view = writable.add_item(**fields)
    assert not view.ok
    assert view.markdown.startswith("**The item was not added.**")
    assert message.replace("_", "\\_").replace("`", "\\`") in view.markdown or message in view.markdown
    assert len(writable.service.item_ids) == before


def test_an_added_item_is_served_at_once(writable: UiActions) -> None:
    view = writable.add_item(
        "Star Wars: The Clone Saga", "Jedi knights fight the empire again, in a galaxy far, far away.",
        item_id="ui-sw", properties="year = 2025", links=SCI_FI_LINKS, more_links=f"DIRECTED_BY = {STAR_WARS_DIRECTOR}",
    )
    assert view.ok, view.markdown
    assert "**Added** *Star Wars: The Clone Saga* as item ui-sw" in view.markdown
    assert writable.add_item("The Quiet Farm", "A documentary about a year on a dairy farm.", item_id="ui-farm",
                             links=["IN_GENRE|genre:Drama"]).ok
    assert {"ui-sw", "ui-farm"} <= set(writable.new_items())
    assert writable.service.store.node(_ref({"label": "Item", "id": "ui-sw"}))["year"] == "2025"
    assert set(writable.search_items("clone saga")["item_id"]) == {"ui-sw"}

    # Among the new items, a Star Wars fan gets the Star Wars-like one first, explained
    # by a path through what it shares with the liked movies.
    fan = writable.recommend(liked=list(STAR_WARS), k=2, only_new=True)
    assert fan.ok and fan.table["item_id"].tolist()[0] == "ui-sw"
    sentences = [e["sentence"] for e in fan.items[0]["explanations"]]
    assert any("*Star Wars: The Clone Saga*" in s for s in sentences), sentences
    # And it is ranked among all items, with no retraining.
    everything = writable.recommend(liked=list(STAR_WARS), k=1000)
    assert "ui-sw" in everything.table["item_id"].tolist()


def test_entities_are_found_by_name_and_type(actions: UiActions) -> None:
    assert {"director", "genre", "year"} <= set(actions.entity_types())
    # Star Wars' director has no name in the Freebase graph: found by the title it belongs to.
    directors = actions.search_entities("STAR wars", "director")
    assert directors.to_dict("records") == [{"entity_id": STAR_WARS_DIRECTOR, "type": "director",
                                             "name": "director of Star Wars", "items": 1}]
    anyone = actions.search_entities("wars star")
    assert {"director", "writer", "producer"} <= set(anyone["type"]) and not anyone["name"].str.contains("m\\.").any()
    assert actions.search_entities("sci", "genre")["entity_id"].tolist() == ["genre:Sci-Fi"]
    assert actions.search_entities("sci", "director").empty and actions.search_entities("").empty
    entity = actions.neighbourhood("Entity", STAR_WARS_DIRECTOR)
    assert "**director of Star Wars**" in entity.markdown and "50" in entity.table["id"].tolist()


def test_the_link_picker_finds_entities_known_only_by_a_code(actions: UiActions) -> None:
    assert actions.link_search("star wars", "director") == [("director of Star Wars", f"DIRECTED_BY|{STAR_WARS_DIRECTOR}")]
    assert ("genre: Sci-Fi", "IN_GENRE|genre:Sci-Fi") in actions.link_search("sci-fi")


def test_the_placeholder_example_adds_a_link(writable: UiActions) -> None:
    from kgrec.app.ui.tabs.catalog import LINK_EXAMPLE

    view = writable.add_item("The Placeholder Saga", "Made from the form's own example.", item_id="ui-example",
                             more_links=LINK_EXAMPLE)
    assert view.ok, view.markdown
    linked = writable.neighbourhood("Item", "ui-example").table
    assert (linked["relationship"] == "DIRECTED_BY").any() and STAR_WARS_DIRECTOR in linked["id"].tolist()


def test_the_same_item_twice_is_refused(writable: UiActions) -> None:
    first = writable.add_item("Twice Told", "A film added by a double click.", links=["IN_GENRE|genre:Drama"])
    assert first.ok, first.markdown
    new_id = re.search(r"as item (new-[0-9a-f]{8})", first.markdown).group(1)  # type: ignore[union-attr]
    before = len(writable.service.item_ids)
    again = writable.add_item(" twice told ", "A film added by a double click.", links=["IN_GENRE|genre:Drama"])
    assert not again.ok and len(writable.service.item_ids) == before
    assert again.markdown == (f"**The item was not added.** item {new_id} already has this title and description, so "
                              "it was not added twice; change the title or the description to add another item.")
    assert writable.add_item("Twice Told", "Another film of the same name.").ok


# --- concurrency ------------------------------------------------------------------------------


def test_requests_are_answered_while_an_item_is_added(writable: UiActions) -> None:
    errors: list[BaseException] = []
    answers: list[bool] = []

    def ask() -> None:
        try:
            for _ in range(3):
                answers.append(writable.recommend(liked=list(STAR_WARS), k=5).ok)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    added = writable.add_item("Concurrent Film", "Added while others ask.", item_id="ui-concurrent")
    for thread in threads:
        thread.join(timeout=120)
    assert added.ok and not errors and answers == [True] * 9


# --- the layout and the command ---------------------------------------------------------------


def test_layout_endpoints_and_offline_theme(actions: UiActions) -> None:
    from kgrec.app.ui.layout import build_app, theme

    app = build_app(actions)
    names = {d.get("api_name") for d in app.config["dependencies"] if d.get("api_visibility", "public") == "public"}
    assert {"recommend", "explain", "search_liked", "upload_catalog", "add_item", "search_items", "neighbours",
            "model_info", "recommend_json", "search_entities"} <= names
    css = theme()._get_theme_css()
    assert "googleapis" not in css and "http" not in " ".join(getattr(theme(), "_stylesheets", []))


def test_guarded_handler_returns_a_message() -> None:
    from kgrec.app.ui.tabs.common import guarded

    def broken(x: int) -> str:
        raise RuntimeError("boom")

    assert guarded(broken, lambda m: m)(1) == "**Something went wrong:** RuntimeError: boom. The app is still running."


def test_recommend_json_endpoint(actions: UiActions) -> None:
    answer, note = actions.answer({"id": 7, "liked": list(STAR_WARS), "k": 2})
    assert answer["id"] == 7 and len(answer["items"]) == 2 and answer["error"] is None and note is None
    answer, _ = actions.answer({"id": 8, "user_id": "nobody"})
    assert answer["error"] == "unknown user_id 'nobody'"


def test_serve_command_arguments(settings: Settings) -> None:
    from kgrec.app.commands import serve

    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.model, args.store) == ("127.0.0.1", 7860, None, None)
    with pytest.raises(KgrecError, match="--port must be between 1 and 65535"):
        serve.serve(settings, None, "127.0.0.1", 0)
    with pytest.raises(KgrecError, match="no model at"):
        serve.serve(settings, settings.home / "no-model", "127.0.0.1", 7860)


def test_drawing_without_neighbours() -> None:
    from kgrec.app.ui.drawing import draw_neighbourhood, draw_paths
    from kgrec.kg.graph import NodeRef

    image = draw_neighbourhood(NodeRef("Item", "x"), "Lonely", [], {})
    assert image.size == (1000, 560)
    path = {"nodes": [{"label": "Item", "id": "a", "name": "A"}, {"label": "Entity", "id": "g", "name": "Drama"},
                      {"label": "Item", "id": "b", "name": "B"}],
            "relationships": [{"type": "IN_GENRE", "forward": True}, {"type": "IN_GENRE", "forward": False}]}
    assert draw_paths([path], {("Entity", "g"): "genre"}).size == (1000, 560)


def _ref(node: dict):  # type: ignore[no-untyped-def]
    from kgrec.kg.graph import NodeRef

    return NodeRef(node["label"], node["id"])


# --- the same over Neo4j ------------------------------------------------------------------------


@pytest.mark.neo4j
def test_the_app_over_neo4j(ui_home: Path, ml100k_catalog: Catalog, tmp_path: Path) -> None:
    """The small catalog in Neo4j, served with the model trained on the embedded copy of it:
    recommend with explanations, add an item, upload a file with a bad row, explore."""
    from kgrec.app.service import RecommendationService, default_model_dir
    from kgrec.kg.ingest import ingest
    from conftest import open_neo4j
    from ui_support import small_catalog

    home = copy_home(ui_home, tmp_path / "home")
    store = open_neo4j(home)
    # The guard's 1 s default is for serving; on 2 shared cores a fresh server's first path
    # query (its plan) may take longer, and this test is about the app, not the guard.
    settings = Settings.from_env(home=home, store="neo4j", device="cpu").with_(store_timeout=30.0)
    service = None
    try:
        store.clear()
        ingest(small_catalog(ml100k_catalog), store, settings, progress=False)
        service = RecommendationService(settings, default_model_dir(settings), store=store)
        actions = UiActions(service)
        view = actions.recommend(liked=list(STAR_WARS), k=3)
        assert view.ok and "You liked *" in view.markdown
        assert actions.explain_view(view.items, view.items[0]["item_id"]).image is not None

        added = actions.add_item("Neo Saga", "Jedi knights, again.", item_id="neo-sw", links=SCI_FI_LINKS,
                                 more_links=f"DIRECTED_BY = {STAR_WARS_DIRECTOR}")
        assert added.ok, added.markdown
        assert store.node(_ref({"label": "Item", "id": "neo-sw"})) is not None
        fan = actions.recommend(liked=list(STAR_WARS), k=1, only_new=True)
        assert fan.table["item_id"].tolist() == ["neo-sw"]

        files = write_files(tmp_path / "upload", items_csv="item_id,title\nneo-up,Uploaded\n",
                       interactions_csv="user_id,item_id\nneo-user,neo-up\nneo-user,no-such-item\n")
        uploaded = actions.ingest_upload(files)
        assert uploaded.ok and uploaded.rejected["reason"].tolist() == ["unknown_item"]
        assert "neo-user" in actions.known_users()

        explored = actions.neighbourhood("Item", "neo-sw")
        assert set(explored.table["relationship"]) == {"IN_GENRE", "DIRECTED_BY"}
    finally:
        store.clear()
        if service is not None:
            service.close()  # stops its background refresher, then closes the store it holds
        else:
            store.close()


def test_demo_skips_what_is_done(ui_home: Path, data_settings: Settings, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from kgrec.app.cli import main

    home = copy_home(ui_home, tmp_path / "home")
    (home / "data").symlink_to(data_settings.data_dir, target_is_directory=True)  # ml-100k, fetched once
    assert main(["--home", str(home), "demo", "--store", "embedded", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert [line[:5] for line in out.splitlines() if line.startswith("[")] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert "ml-100k is already fetched" in out
    assert "the embedded store already holds a catalog: skipping ingest" in out
    assert "a model is already trained" in out and "serving skipped (--no-serve)" in out
    assert main(["--home", str(home), "demo", "--store", "embedded", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_serve_on_a_busy_port_says_so(ui_home: Path) -> None:
    import socket

    from kgrec.app.commands.serve import serve

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(KgrecError, match=f"cannot listen on 127.0.0.1:{port}: the port is in use"):
            serve(settings_for(ui_home), None, "127.0.0.1", port)


# --- access control -----------------------------------------------------------------------------

WRITE_TOKEN = "a-write-token-of-some-length"


def test_writes_need_the_write_token(writable: UiActions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writable.service, "settings", writable.service.settings.with_(api_token=WRITE_TOKEN))
    files = write_files(tmp_path, items_csv="item_id,title\ntok-1,Needs a token\n", interactions_csv="user_id,item_id\n")
    before = set(writable.service.item_ids)
    for token, message in ((None, "this write needs the API token"), ("", "this write needs the API token"),
                           ("wrong", "the API token is wrong")):
        upload = writable.ingest_upload(files, token=token)
        assert not upload.ok and upload.markdown.startswith("**Nothing was ingested.**") and message in upload.markdown
        added = writable.add_item("Anonymous edit", item_id="tok-anon", token=token)
        assert not added.ok and message in added.markdown and "give the write token" in added.markdown
    assert set(writable.service.item_ids) == before
    assert writable.service.store.node(_ref({"label": "Item", "id": "tok-1"})) is None
    assert writable.ingest_upload(files, token=WRITE_TOKEN).ok
    assert writable.add_item("With the token", item_id="tok-2", token=WRITE_TOKEN).ok
    assert {"tok-1", "tok-2"} <= set(writable.service.item_index)


def test_read_only_refuses_everywrite_files(writable: UiActions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writable.service, "settings", writable.service.settings.with_(read_only=True, api_token=WRITE_TOKEN))
    files = write_files(tmp_path, items_csv="item_id,title\nro-1,Read only\n", interactions_csv="user_id,item_id\n")
    for view in (writable.ingest_upload(files, token=WRITE_TOKEN), writable.add_item("Read only", item_id="ro-2", token=WRITE_TOKEN)):
        assert not view.ok and "this server is read-only" in view.markdown
    assert not {"ro-1", "ro-2"} & set(writable.service.item_index)
    assert writable.recommend(liked=list(STAR_WARS), k=2).ok  # reads still served


def test_serve_refuses_a_public_host_without_a_token(settings: Settings) -> None:
    from kgrec.app.commands import serve

    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    for host in ("0.0.0.0", "192.168.1.20", "::", "my-host.example"):
        with pytest.raises(KgrecError, match=f"refusing to listen on {re.escape(host)} without KGREC_API_TOKEN: "
                                             "anyone who reaches the app could rewrite the catalog"):
            serve.server_settings(parser.parse_args(["serve", "--host", host]), settings)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert serve.server_settings(parser.parse_args(["serve", "--host", host]), settings) == settings
    # A token or read-only mode keeps anonymous visitors from writing: then it may listen anywhere.
    assert serve.server_settings(parser.parse_args(["serve", "--host", "0.0.0.0"]),
                                 settings.with_(api_token=WRITE_TOKEN)).api_token == WRITE_TOKEN
    assert serve.server_settings(parser.parse_args(["serve", "--host", "0.0.0.0", "--read-only"]), settings).read_only
    with pytest.raises(KgrecError, match="refusing to listen on 0.0.0.0"):  # checked before anything is loaded
        serve.serve(settings, settings.home / "no-model", "0.0.0.0", 7860)


def test_the_api_schema_and_page_list_no_ids(actions: UiActions) -> None:
    import json

    from kgrec.app.ui.layout import build_app

    app = build_app(actions)
    info = json.dumps(app.get_api_info(), default=str)
    config = json.dumps(app.config, default=str)
    users, items = actions.known_users(), [str(i) for i in actions.service.item_ids]
    for text in (info, config):
        assert sum(f'"{u}"' in text for u in users) < 5  # a few small numbers may appear for other reasons
        assert not [t for t in actions.service.names.items.values() if f'"{t}' in text][:1]
    # The pickers are filled by search instead.
    assert actions.user_choices(users[0][:1])[:1] == [users[0]] and actions.user_choices("") == []
    assert ("Star Wars (50)", "50") in actions.item_choices("star wars")
    assert items


# --- everything shown is text ------------------------------------------------------------------

HOSTILE = "<form action=http://evil.example/><input type=password></form> [click](http://evil.example) $\\undefinedmacro{x}$"


def _markup(markdown: str) -> list[str]:
    """Unescaped characters that would start a tag, a link or LaTeX."""
    return re.findall(r"(?<!\\)(?:<|\[|\$|https?://)", markdown)


def test_hostile_titles_reach_markdown_as_text(writable: UiActions) -> None:
    added = writable.add_item(HOSTILE, "Jedi knights in a hostile title.", item_id="hostile-1", links=SCI_FI_LINKS)
    assert added.ok, added.markdown
    assert escape(HOSTILE) in added.markdown and not _markup(added.markdown)
    view = writable.recommend(liked=list(STAR_WARS), k=10, only_new=True)
    assert "hostile-1" in view.table["item_id"].tolist()
    assert HOSTILE in view.table["title"].tolist()  # tables get the title as it is: Gradio shows cells as text
    assert escape(HOSTILE) in view.markdown and not _markup(view.markdown)
    hostile = next(i for i in view.items if i["item_id"] == "hostile-1")
    assert hostile["explanations"] and not [e for e in hostile["explanations"] if _markup(str(e["sentence"]))]
    shown = writable.explain_view(view.items, "hostile-1")
    assert escape(HOSTILE) in shown.markdown and not _markup(shown.markdown)
    assert isinstance(shown.image, Image.Image)  # the mathtext in the title does not break the drawing
    explored = writable.neighbourhood("Item", "hostile-1")
    assert escape(HOSTILE) in explored.markdown and not _markup(explored.markdown)
    assert isinstance(explored.image, Image.Image)


def test_mathtext_in_names_does_not_break_drawings() -> None:
    from kgrec.app.ui.drawing import draw_neighbourhood, draw_paths
    from kgrec.kg.graph import NodeRef
    from kgrec.kg.store.base import Neighbour

    bad = "$\\undefinedmacro{x}$ and $$ and $x^$"
    path = {"nodes": [{"label": "Item", "id": "a", "name": bad}, {"label": "Entity", "id": "g", "name": "$\\frac{"},
                      {"label": "Item", "id": "b", "name": bad}],
            "relationships": [{"type": "IN_GENRE", "forward": True}, {"type": "IN_GENRE", "forward": False}]}
    assert draw_paths([path], {("Entity", "g"): "$genre\\"}).size == (1000, 560)
    neighbour = Neighbour(NodeRef("Entity", "g"), "IN_GENRE", True)
    assert draw_neighbourhood(NodeRef("Item", "a"), bad, [(neighbour, "$\\undefinedmacro$")], {}).size == (1000, 560)


def test_messages_show_no_server_path(writable: UiActions, tmp_path: Path) -> None:
    from kgrec.app.ui.tabs.common import guarded

    files = write_files(tmp_path, items_csv="item_id,title\nx,y\n")
    view = writable.ingest_upload(files)
    assert "the upload has no interactions.csv" in view.markdown and "/tmp" not in view.markdown
    ratings = writable.ingest_upload(write_files(tmp_path / "ratings", items_csv="item_id,title\nr-1,R\n",
                                            interactions_csv="user_id,item_id,rating\nr-user,r-1,70\n"))
    assert ratings.rejected["reason"].tolist() == ["rating_out_of_range"]
    assert ratings.rejected["message"].iloc[0] == "rating 70 is outside the accepted range 0..10"
    assert "--" not in ratings.markdown  # no command-line flag told to a web visitor
    ok = writable.ingest_upload(write_files(tmp_path / "ok", items_csv="item_id,title\npath-1,P\n", interactions_csv="user_id,item_id\n"))
    assert ok.ok and str(writable.service.settings.home) not in ok.markdown and "reports folder" in ok.markdown

    def broken() -> str:
        raise FileNotFoundError(2, "No such file", f"{tmp_path}/models/default/weights.pt")

    message = guarded(broken, lambda m: m)()
    assert "weights.pt" in message and str(tmp_path) not in message
