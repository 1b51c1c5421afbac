"""The Gradio app: five tabs over one :class:`~app.ui.actions.UiActions`.

- **Recommend**: a known user, or a new one (liked items, attribute values, free text);
  the top K with each item's explanation sentences.
- **Explain**: one recommendation's paths, drawn as a graph.
- **Catalog**: upload catalog files (validated, valid rows ingested, report shown) or
  add one item through a form; the service reloads, so new items are served at once.
- **Explore**: search items (title or meaning) and see a node's neighbourhood.
- **Model**: the loaded model, its evaluation results and its training curve.

Each event has an ``api_name`` (see docs/API.md), and ``/recommend_json`` answers the
recommendation contract's JSON requests. The page loads nothing from outside the server:
the theme's fonts are system fonts and pictures are drawn server-side.

Access (:mod:`app.auth`): with ``KGREC_READ_TOKEN`` set the whole app sits behind Gradio's
login (the token as password, any user name), which also guards every API route and file
download; writes (upload, add item) take the write token (``KGREC_API_TOKEN``) in a field
of the Catalog tab, checked per action, so a reader's session never gains write authority.
No list of user or item ids is part of the page or its API schema: the pickers are filled
by search as the visitor types.
"""
from __future__ import annotations

import functools
import inspect
import keyword
import logging
import os
import re
from collections.abc import Callable
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from app.auth import authorize  # noqa: E402
from app.markup import escape, without_paths  # noqa: E402
from app.ui.actions import (  # noqa: E402
    EVALUATION_COLUMNS,
    MAX_DESCRIPTION,
    NEIGHBOUR_COLUMNS,
    PATH_COLUMNS,
    RECOMMEND_COLUMNS,
    REJECTION_COLUMNS,
    SEARCH_COLUMNS,
    UiActions,
)
from kg.errors import AccessDenied  # noqa: E402
from kg.identifiers import LABELS  # noqa: E402
from kg.limits import MAX_UPLOAD_BYTES  # noqa: E402
from kg.settings import Settings  # noqa: E402

log = logging.getLogger(__name__)

TITLE = "kgrec: explained recommendations"
CHOICES_LIMIT = 50
"""Items or users offered by a picker for what the visitor typed."""
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]


def _markdown(value: str = "", **options: Any) -> gr.Markdown:
    """A Markdown block without LaTeX rendering (a ``$$`` in a title stays text); text from
    data reaches it escaped (:func:`app.markup.escape`), and Gradio sanitises the HTML."""
    return gr.Markdown(value, latex_delimiters=[], sanitize_html=True, **options)


def theme() -> gr.themes.Theme:
    """The default look with system fonts only: no font files from Google or a CDN."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)


def _guarded(fn: Callable[..., Any], fallback: Callable[[str], Any]) -> Callable[..., Any]:
    """Call ``fn``; on an unexpected error, log it and return ``fallback(message)`` so the
    page shows one sentence instead of a stack trace and the app stays up."""
    @functools.wraps(fn)  # Gradio reads the signature (event data, API types) through __wrapped__
    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as error:  # the last line of defence for the page
            log.exception("UI handler %s failed", getattr(fn, "__name__", fn))
            return fallback(f"**Something went wrong:** {type(error).__name__}: {escape(without_paths(error))}. "
                            "The app is still running.")
    run.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]  # defaults: optional API parameters
    return run


def read_login(settings: Settings) -> Callable[[str, str], bool] | None:
    """Gradio's login check when reads need a token: the read or the write token as the
    password, any user name; None when reads are open."""
    if not settings.read_token:
        return None

    def check(_username: str, password: str) -> bool:
        try:
            authorize(settings, password, write=False)
        except AccessDenied:
            return False
        return True
    return check


def build_app(actions: UiActions) -> gr.Blocks:
    attributes = actions.attribute_choices()
    settings = actions.service.settings
    # Pictures handed to the browser are files in Gradio's cache: drop them after an hour.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        _markdown(f"## {TITLE}\nRecommendations from a knowledge graph and a text-fused GNN, each with the "
                  "graph paths that explain it. New items and users are served without retraining.")
        items_state = gr.State([])

        with gr.Tab("Recommend", id="recommend"):
            with gr.Row():
                with gr.Column(scale=1):
                    user = gr.Dropdown(choices=[], value=None, label="Known user id (optional; type to search)",
                                       allow_custom_value=True, filterable=True, elem_id="user-id")
                    item_search = gr.Textbox("", label="Search items by title", placeholder="e.g. star wars",
                                             elem_id="item-search")
                    liked = gr.Dropdown(choices=[], value=[], multiselect=True, allow_custom_value=True,
                                        filterable=True, label="Items the user liked (type a title)", elem_id="liked")
                    attribute_inputs = []
                    if attributes:
                        with gr.Accordion(f"Attributes ({', '.join(attributes)})", open=False, elem_id="attributes"):
                            with gr.Row():
                                attribute_inputs = [
                                    gr.Dropdown(choices=values, value=None, label=name, allow_custom_value=True,
                                                min_width=120, elem_id=f"attr-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}")
                                    for name, values in attributes.items()
                                ]
                    text = gr.Textbox("", label="What the user wants, in words (optional)", lines=2, elem_id="free-text")
                    k = gr.Slider(1, 100, value=10, step=1, label="How many (k)", elem_id="k")
                    only_new = gr.Checkbox(False, label="Only new items (nobody has interacted with them yet)",
                                           elem_id="only-new")
                    recommend_button = gr.Button("Recommend", variant="primary", elem_id="recommend-button")
                with gr.Column(scale=2):
                    table = gr.Dataframe(value=_empty(RECOMMEND_COLUMNS),
                                         label="Top K", interactive=False, elem_id="recommendations")
                    sentences = _markdown(elem_id="explanations")

        with gr.Tab("Explain", id="explain"):
            which = gr.Dropdown(choices=[], label="Recommendation to explain", elem_id="explain-item")
            path_text = _markdown("Get recommendations first (Recommend tab).", elem_id="path-text")
            path_image = gr.Image(type="pil", label="Paths through the graph", interactive=False, elem_id="path-image",
                                  format="png")
            path_table = gr.Dataframe(_empty(PATH_COLUMNS), label="Hops", interactive=False, elem_id="path-table")

        with gr.Tab("Catalog", id="catalog"):
            _markdown("**Upload catalog files**: `items.csv`, `interactions.csv` (and `users.csv`, `triples.csv`, "
                      "`entities.csv` if you have them; `.jsonl` works too), or one zip of the catalog folder. "
                      "Valid rows are ingested, rejected rows are listed with the reason.")
            if settings.read_only:
                _markdown("**This server is read-only:** uploads and new items are refused.", elem_id="read-only")
            write_token = gr.Textbox("", type="password", label="Write token (needed to change the catalog)",
                                     visible=bool(settings.api_token) and not settings.read_only, elem_id="write-token")
            files = gr.File(file_count="multiple", file_types=[".csv", ".jsonl", ".zip"], type="filepath",
                            label="Catalog files", elem_id="catalog-files")
            strict = gr.Checkbox(False, label="Strict: ingest nothing if any row is rejected", elem_id="strict")
            upload_button = gr.Button("Validate and ingest", variant="primary", elem_id="upload-button")
            upload_report = _markdown(elem_id="upload-report")
            rejected = gr.Dataframe(_empty(REJECTION_COLUMNS), label="Rejected rows", interactive=False, elem_id="rejected")
            _markdown(f"**Add one item** (served at once, no retraining). Title required; description up to "
                      f"{MAX_DESCRIPTION:,} characters.")
            with gr.Row():
                new_title = gr.Textbox(label="Title", elem_id="new-title")
                new_id = gr.Textbox("", label="Item id (optional; one is made up when empty)", elem_id="new-id")
            new_description = gr.Textbox("", label="Description", lines=3, elem_id="new-description")
            new_links = gr.Dropdown(choices=actions.link_choices(), value=[], multiselect=True, label="Links (genres, ...)",
                                    allow_custom_value=True, elem_id="new-links")
            with gr.Row():
                new_more_links = gr.Textbox("", label="More links: one 'RELATION = entity id or name' per line",
                                            placeholder="DIRECTED_BY = George Lucas", lines=2, elem_id="new-more-links")
                new_properties = gr.Textbox("", label="Properties: one 'name = value' per line", placeholder="year = 2024",
                                            lines=2, elem_id="new-properties")
            add_button = gr.Button("Add item", variant="primary", elem_id="add-button")
            add_report = _markdown(elem_id="add-report")

        with gr.Tab("Explore", id="explore"):
            with gr.Row():
                query = gr.Textbox("", label="Search items", placeholder="a title, or what it is about", elem_id="explore-query")
                semantic = gr.Checkbox(False, label="By meaning (text embeddings)", elem_id="explore-semantic")
            search_button = gr.Button("Search", elem_id="explore-search")
            results = gr.Dataframe(_empty(SEARCH_COLUMNS), label="Items (click a row to see its neighbourhood)", interactive=False,
                                   elem_id="explore-results")
            with gr.Row():
                label = gr.Dropdown(choices=list(LABELS), value="Item", label="Label", elem_id="node-label")
                node_id = gr.Textbox("", label="Node id", elem_id="node-id")
                neighbours_button = gr.Button("Neighbourhood", elem_id="neighbours-button")
            node_text = _markdown(elem_id="node-text")
            node_image = gr.Image(type="pil", label="Neighbourhood", interactive=False, format="png", elem_id="node-image")
            node_table = gr.Dataframe(_empty(NEIGHBOUR_COLUMNS), label="Neighbours", interactive=False, elem_id="node-table")

        with gr.Tab("Model", id="model"):
            model_text = _markdown(elem_id="model-text")
            evaluation = gr.Dataframe(_empty(EVALUATION_COLUMNS), label="Evaluation (full ranking)", interactive=False,
                                      elem_id="evaluation")
            curve = gr.Image(type="filepath", label="Training curve", interactive=False, elem_id="training-curve")
            model_button = gr.Button("Refresh", elem_id="model-refresh")

        # --- events ---------------------------------------------------------------------
        names = list(attributes)

        def recommend(user_id: str | None = None, liked_ids: list[str] | None = None, free_text: str | None = None,
                      k_value: float = 10, new_only: bool = False, *attribute_values: str | None):
            """Top K for a known user (user_id) or a new one (liked item ids, attribute values, free text)."""
            view = actions.recommend(user_id, liked_ids or [], dict(zip(names, attribute_values)), free_text,
                                     int(k_value), only_new=bool(new_only))
            choices = view.choices()
            return (view.table, view.markdown, view.items,
                    gr.update(choices=choices, value=choices[0][1] if choices else None))

        _name_attribute_parameters(recommend, names)

        recommend_button.click(
            _guarded(recommend, lambda m: (gr.skip(), m, [], gr.skip())),
            [user, liked, text, k, only_new, *attribute_inputs], [table, sentences, items_state, which], api_name="recommend",
        ).then(_guarded(lambda items, item: _explain(actions, items, item), lambda m: (m, None, gr.skip())),
               [items_state, which], [path_text, path_image, path_table], api_visibility="private")

        def explain(items: list[dict], item_id: str | None = None):
            """The explanation paths of one of the current recommendations."""
            return _explain(actions, items, item_id)

        which.input(_guarded(explain, lambda m: (m, None, gr.skip())), [items_state, which],
                    [path_text, path_image, path_table], api_name="explain")

        def search_liked(query_text: str, selected: list[str] | None):
            """Offer the items whose titles contain the query in the liked-items picker (the picked ones stay)."""
            selected = list(selected or [])
            found = actions.item_choices(query_text, limit=CHOICES_LIMIT) if (query_text or "").strip() else []
            kept = [(actions.item_label(i), i) for i in selected]
            return gr.update(choices=kept + [c for c in found if c[1] not in selected], value=selected)

        item_search.submit(_guarded(search_liked, lambda m: gr.skip()), [item_search, liked], [liked],
                           api_name="search_liked")

        def suggest_liked(selected: list[str] | None, typed: gr.KeyUpData):
            # Choices only: the value sent with a keystroke may be older than a pick made since.
            kept = [(actions.item_label(i), i) for i in selected or []]
            found = actions.item_choices(typed.input_value or "", limit=CHOICES_LIMIT) if (typed.input_value or "").strip() else []
            return gr.update(choices=kept + [c for c in found if c not in kept])

        def suggest_users(_value: str | None, typed: gr.KeyUpData):
            return gr.update(choices=actions.user_choices(typed.input_value or "", limit=CHOICES_LIMIT))

        # Every key is answered, in order (one at a time), so the last answer is for the whole
        # text typed: collapsing fast keystrokes ("always_last") answered for a stale prefix.
        liked.key_up(_guarded(suggest_liked, lambda m: gr.skip()), [liked], [liked], api_visibility="private",
                     show_progress="hidden", trigger_mode="multiple", concurrency_id="suggest", concurrency_limit=1)
        user.key_up(_guarded(suggest_users, lambda m: gr.skip()), [user], [user], api_visibility="private",
                    show_progress="hidden", trigger_mode="multiple", concurrency_id="suggest", concurrency_limit=1)

        def upload(paths: list[str] | None, strict_value: bool = False, token: str = ""):
            """Validate uploaded catalog files and ingest the valid rows (token: the write token, when the server has one)."""
            try:
                view = actions.ingest_upload(paths or [], strict=strict_value, token=token)
            finally:
                _discard(paths or [])
            return view.markdown, view.rejected

        upload_button.click(_guarded(upload, lambda m: (m, gr.skip())), [files, strict, write_token],
                            [upload_report, rejected], api_name="upload_catalog", concurrency_id="write",
                            concurrency_limit=1)

        def add_item(title: str, item_id: str = "", description: str = "", links: list[str] | None = None,
                     more_links: str = "", properties: str = "", token: str = ""):
            """Add one item (title, description, links, properties) to the graph (token: the write token, when the server has one)."""
            view = actions.add_item(title, description, item_id, properties, links or [], more_links, token=token)
            return view.markdown

        add_button.click(_guarded(add_item, lambda m: m),
                         [new_title, new_id, new_description, new_links, new_more_links, new_properties, write_token],
                         [add_report], api_name="add_item", concurrency_id="write", concurrency_limit=1)

        def search(query_text: str, by_meaning: bool = False):
            """Items by title substring, or by meaning."""
            return actions.search_items(query_text, semantic=by_meaning)

        search_button.click(_guarded(search, _toast), [query, semantic], [results], api_name="search_items")
        query.submit(_guarded(search, _toast), [query, semantic], [results], api_visibility="private")

        def neighbourhood(label_value: str = "Item", node: str = ""):
            """A node's properties, neighbours and picture."""
            view = actions.neighbourhood(label_value, node)
            return view.markdown, view.image, view.table

        neighbours_button.click(_guarded(neighbourhood, lambda m: (m, None, gr.skip())), [label, node_id],
                                [node_text, node_image, node_table], api_name="neighbours")

        def pick_result(frame: pd.DataFrame, event: gr.SelectData):
            row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            item = str(frame.iloc[int(row)]["item_id"])
            view = actions.neighbourhood("Item", item)
            return "Item", item, view.markdown, view.image, view.table

        results.select(_guarded(pick_result, lambda m: (gr.skip(), gr.skip(), m, None, gr.skip())), [results],
                       [label, node_id, node_text, node_image, node_table], api_visibility="private")

        def model_info():
            """The loaded model, its evaluation results and training curve."""
            return actions.model_info()

        model_button.click(_guarded(model_info, lambda m: (m, gr.skip(), None)), None, [model_text, evaluation, curve],
                           api_name="model_info")
        app.load(_guarded(model_info, lambda m: (m, gr.skip(), None)), None, [model_text, evaluation, curve],
                 api_visibility="private")

        def recommend_json(request: dict) -> dict:
            """Answer one request of the recommendation contract (JSON object, as in
            `kgrec recommend --batch`), with explanations."""
            if not isinstance(request, dict):
                return {"id": None, "items": [], "fallback": None, "error": "a request must be a JSON object"}
            answer, note = actions.answer(request)
            if note:
                answer.setdefault("warnings", []).append(note)
            return answer

        gr.api(_guarded(recommend_json, lambda m: {"id": None, "items": [], "fallback": None, "error": m}),
               api_name="recommend_json")
    # The login travels with the app, so every way of serving it (launch, or mounted on
    # another ASGI app) finds it.
    app.read_login = read_login(settings)  # type: ignore[attr-defined]
    return app


def _name_attribute_parameters(fn: Callable[..., Any], names: list[str]) -> None:
    """Give ``fn``'s ``*attribute_values`` one named parameter per attribute, so the API
    page and gradio_client show ``gender``, ``age``, ... instead of ``param_5``, ..."""
    signature = inspect.signature(fn)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    taken = {p.name for p in fixed}
    extra = []
    for name in names:
        identifier = re.sub(r"\W", "_", name).strip("_") or "attribute"
        identifier = f"attribute_{identifier}" if identifier in taken or not identifier.isidentifier() \
            or keyword.iskeyword(identifier) or identifier[0].isdigit() else identifier
        while identifier in taken:
            identifier += "_"
        taken.add(identifier)
        extra.append(inspect.Parameter(identifier, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                       annotation="str | None"))
    fn.__signature__ = signature.replace(parameters=[*fixed, *extra])  # type: ignore[attr-defined]


def _toast(message: str) -> Any:
    """For outputs with no place for a sentence: Gradio shows the message in a pop-up."""
    raise gr.Error(message.replace("**", ""))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


def _explain(actions: UiActions, items: list[dict], item_id: str | None):  # type: ignore[no-untyped-def]
    view = actions.explain_view(items or [], item_id)
    return view.markdown, view.image, view.table


def _discard(paths: list[str]) -> None:
    """Remove uploaded files from Gradio's cache once handled: they may hold raw user ids
    (pseudonymised only on the way into the store) and are not needed again."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


SERVER_OPTIONS: dict[str, Any] = {"show_error": False, "ssr_mode": False, "footer_links": ["api"], "pwa": False,
                                  "mcp_server": False, "enable_monitoring": False, "max_file_size": MAX_UPLOAD_BYTES}
QUEUE_CONCURRENCY = 4


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True, quiet: bool = False):  # type: ignore[no-untyped-def]
    """Serve ``app``; with ``block`` until interrupted. Returns (fastapi app, local url)."""
    app.queue(default_concurrency_limit=QUEUE_CONCURRENCY)
    server, url, _ = app.launch(
        server_name=host, server_port=port, prevent_thread_lock=not block, share=False, inbrowser=False,
        quiet=quiet, theme=theme(), **_auth(app), **SERVER_OPTIONS,
    )
    return server, url


def mount(app: gr.Blocks, api: Any, path: str = "/") -> Any:
    """Mount ``app`` on a FastAPI app (``kgrec serve``: beside the HTTP API), as :func:`launch` would serve it."""
    app.queue(default_concurrency_limit=QUEUE_CONCURRENCY)
    return gr.mount_gradio_app(api, app, path=path, theme=theme(), **_auth(app), **SERVER_OPTIONS)


def _auth(app: gr.Blocks) -> dict[str, Any]:
    """Gradio's login when reads need the read token (``build_app`` sets ``read_login``)."""
    login = getattr(app, "read_login", None)
    if login is None:
        return {}
    return {"auth": login, "auth_message": "Sign in with the read token as the password (any user name)."}
