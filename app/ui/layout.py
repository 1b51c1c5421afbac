"""The Gradio app: five tabs over one :class:`~kgrec.app.ui.actions.UiActions`, each built by its
module in :mod:`kgrec.app.ui.tabs`.

- **Recommend**: a known user, or a new one (liked items, attribute values, free text);
  the top K with each item's explanation sentences.
- **Explain**: one recommendation's paths, drawn as a graph.
- **Catalog**: upload catalog files (validated, valid rows ingested, report shown) or
  add one item through a form (links picked from the graph); the service reloads, so new
  items are served at once.
- **Explore**: search items (title words or meaning) and entities (name and type), and see
  a node's neighbourhood.
- **Model**: the loaded model, its latest evaluation and its training curve.

At a phone's width (390 px) the page never scrolls sideways: tables scroll in their own
box and pictures keep a readable size in theirs (:data:`CSS`).

Each event has an ``api_name`` (see docs/API.md), and ``/recommend_json`` answers the
recommendation contract's JSON requests. The page loads nothing from outside the server:
the theme's fonts are system fonts and pictures are drawn server-side.

Access (:mod:`kgrec.app.auth`): with ``KGREC_READ_TOKEN`` set the whole app sits behind Gradio's
login (the token as password, any user name), which also guards every API route and file
download; writes (upload, add item) take the write token (``KGREC_API_TOKEN``) in a field
of the Catalog tab, checked per action, so a reader's session never gains write authority.
No list of user or item ids is part of the page or its API schema: the pickers are filled
by search as the visitor types.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from kgrec.app.auth import authorize  # noqa: E402
from kgrec.app.ui.actions import UiActions  # noqa: E402
from kgrec.app.ui.tabs import catalog, explain, explore, model, recommend  # noqa: E402
from kgrec.app.ui.tabs.common import markdown  # noqa: E402
from kgrec.kg.errors import AccessDenied  # noqa: E402
from kgrec.kg.limits import MAX_UPLOAD_BYTES  # noqa: E402
from kgrec.kg.settings import Settings  # noqa: E402

TITLE = "kgrec: explained recommendations"
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]
CSS = """
/* A phone-wide page: tables scroll sideways inside their box, never the page. */
.kgrec-table { max-width: 100%; min-width: 0; }
.kgrec-table .table-wrap, .kgrec-table .table-container { overflow-x: auto; max-width: 100%; }
.gradio-container { overflow-x: hidden; }
/* Pictures of paths and neighbourhoods keep their own size on a phone (readable), scrolling
   sideways in their box; the fullscreen button opens them whole. */
@media (max-width: 640px) {
  .gradio-container { padding-left: 6px !important; padding-right: 6px !important; }
  .kgrec-table table { min-width: 520px; }
  .kgrec-picture .image-container { overflow-x: auto; max-width: 100%; display: block !important; }
  .kgrec-picture .image-container * { justify-content: flex-start !important; align-items: flex-start !important; }
  .kgrec-picture .image-container :has(> img) { display: block !important; width: max-content !important; margin: 0 !important; }
  .kgrec-picture .image-container img { width: 800px !important; max-width: none !important; height: auto !important; }
}
"""


def theme() -> gr.themes.Theme:
    """The default look with system fonts only: no font files from Google or a CDN."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)


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
    # Pictures handed to the browser are files in Gradio's cache: drop them after an hour.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        markdown(f"## {TITLE}\nRecommendations from a knowledge graph and a text-fused GNN, each with the "
                 "graph paths that explain it. New items and users are served without retraining.")
        with gr.Tabs():
            recommend_tab = recommend.build(actions)
            explain_tab = explain.build(actions)
            catalog.build(actions)
            explore.build(actions)
            model.build(actions, app)
        recommend.wire(actions, recommend_tab, explain_tab)
    # The login travels with the app, so every way of serving it (launch, or mounted on
    # another ASGI app) finds it.
    app.read_login = read_login(actions.service.settings)  # type: ignore[attr-defined]
    return app


SERVER_OPTIONS: dict[str, Any] = {"show_error": False, "ssr_mode": False, "footer_links": ["api"], "pwa": False,
                                  "mcp_server": False, "enable_monitoring": False, "max_file_size": MAX_UPLOAD_BYTES}
QUEUE_CONCURRENCY = 4


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True, quiet: bool = False):  # type: ignore[no-untyped-def]
    """Serve ``app``; with ``block`` until interrupted. Returns (fastapi app, local url)."""
    app.queue(default_concurrency_limit=QUEUE_CONCURRENCY)
    server, url, _ = app.launch(
        server_name=host, server_port=port, prevent_thread_lock=not block, share=False, inbrowser=False,
        quiet=quiet, theme=theme(), css=CSS, **_auth(app), **SERVER_OPTIONS,
    )
    return server, url


def mount(app: gr.Blocks, api: Any, path: str = "/") -> Any:
    """Mount ``app`` on a FastAPI app (``kgrec serve``: beside the HTTP API), as :func:`launch` would serve it."""
    app.queue(default_concurrency_limit=QUEUE_CONCURRENCY)
    return gr.mount_gradio_app(api, app, path=path, theme=theme(), css=CSS, **_auth(app), **SERVER_OPTIONS)


def _auth(app: gr.Blocks) -> dict[str, Any]:
    """Gradio's login when reads need the read token (``build_app`` sets ``read_login``)."""
    login = getattr(app, "read_login", None)
    if login is None:
        return {}
    return {"auth": login, "auth_message": "Sign in with the read token as the password (any user name)."}
