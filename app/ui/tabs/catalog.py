"""The Catalog tab: upload catalog files (validated, valid rows ingested, report shown),
or add one item through a form whose links are picked from the graph (genres and years
at once; any other entity found by name and type). The form clears after an add."""
from __future__ import annotations

import os

import gradio as gr

from kgrec.app.ui.actions import UiActions
from kgrec.app.ui.actions.catalog import MAX_DESCRIPTION, REJECTION_COLUMNS
from kgrec.app.ui.search import ANY_TYPE
from kgrec.app.ui.tabs.common import guarded, markdown, table

LINK_EXAMPLE = "DIRECTED_BY = director of Star Wars"
"""The placeholder of the typed links: an entity named as the app shows it (it works on ml-100k)."""


def build(actions: UiActions) -> None:
    settings = actions.service.settings
    with gr.Tab("Catalog", id="catalog"):
        markdown("**Upload catalog files**: `items.csv`, `interactions.csv` (and `users.csv`, `triples.csv`, "
                 "`entities.csv` if you have them; `.jsonl` works too), or one zip of the catalog folder. "
                 "Valid rows are ingested, rejected rows are listed with the reason.")
        if settings.read_only:
            markdown("**This server is read-only:** uploads and new items are refused.", elem_id="read-only")
        write_token = gr.Textbox("", type="password", label="Write token (needed to change the catalog)",
                                 visible=bool(settings.api_token) and not settings.read_only, elem_id="write-token")
        files = gr.File(file_count="multiple", file_types=[".csv", ".jsonl", ".zip"], type="filepath",
                        label="Catalog files", elem_id="catalog-files")
        strict = gr.Checkbox(False, label="Strict: ingest nothing if any row is rejected", elem_id="strict")
        upload_button = gr.Button("Validate and ingest", variant="primary", elem_id="upload-button")
        upload_report = markdown(elem_id="upload-report")
        rejected = table(REJECTION_COLUMNS, "Rejected rows", "rejected")
        markdown(f"**Add one item** (served at once, no retraining). Title required; description up to "
                 f"{MAX_DESCRIPTION:,} characters.")
        with gr.Row():
            title = gr.Textbox(label="Title", elem_id="new-title", min_width=200)
            item_id = gr.Textbox("", label="Item id (optional; one is made up when empty)", elem_id="new-id",
                                 min_width=200)
        description = gr.Textbox("", label="Description", lines=3, elem_id="new-description")
        with gr.Row():
            link_query = gr.Textbox("", label="Find an entity to link (words of its name, or of a title it belongs to)",
                                    placeholder="e.g. star wars", elem_id="link-query", min_width=200)
            link_type = gr.Dropdown(choices=[ANY_TYPE, *actions.entity_types()], value=ANY_TYPE, label="Entity type",
                                    elem_id="link-type", min_width=160)
        links = gr.Dropdown(choices=actions.link_choices(), value=[], multiselect=True, allow_custom_value=False,
                            label="Links (genres and years listed; search above for directors, actors, ...)",
                            elem_id="new-links")
        with gr.Row():
            more_links = gr.Textbox("", label="More links: one 'RELATION = entity id or name' per line",
                                    placeholder=LINK_EXAMPLE, lines=2, elem_id="new-more-links", min_width=200)
            properties = gr.Textbox("", label="Properties: one 'name = value' per line", placeholder="year = 2024",
                                    lines=2, elem_id="new-properties", min_width=200)
        add_button = gr.Button("Add item", variant="primary", elem_id="add-button")
        add_report = markdown(elem_id="add-report")
        added = gr.State(False)

    def upload(paths: list[str] | None, strict_value: bool = False, token: str = ""):
        """Validate uploaded catalog files and ingest the valid rows (token: the write token, when the server has one)."""
        try:
            view = actions.ingest_upload(paths or [], strict=strict_value, token=token)
        finally:
            _discard(paths or [])
        return view.markdown, view.rejected

    upload_button.click(guarded(upload, lambda m: (m, gr.skip())), [files, strict, write_token],
                        [upload_report, rejected], api_name="upload_catalog", concurrency_id="write",
                        concurrency_limit=1)

    def find_links(query_text: str, entity_type: str | None, selected: list[str] | None):
        """Offer the linkable entities a search by name and type finds (the picked links stay)."""
        selected = list(selected or [])
        found = actions.link_search(query_text, entity_type)
        labels = {value: label for label, value in [*actions.link_choices(), *found]}
        kept = [(labels.get(value, value), value) for value in selected]
        offered = [(label, value) for label, value in [*found, *actions.link_choices()] if value not in selected]
        return gr.update(choices=kept + list(dict.fromkeys(offered)), value=selected)

    for trigger in (link_query.submit, link_type.input):
        trigger(guarded(find_links, lambda m: gr.skip()), [link_query, link_type, links], [links],
                api_visibility="private")

    def add_item(title: str, item_id: str = "", description: str = "", links: list[str] | None = None,
                 more_links: str = "", properties: str = "", token: str = ""):
        """Add one item (title, description, links, properties) to the graph (token: the write token, when the server has one)."""
        view = actions.add_item(title, description, item_id, properties, links or [], more_links, token=token)
        return view.markdown, view.ok

    def clear(ok: bool):
        """After an add, an empty form (a second click adds nothing twice); after a refusal, the form as it was."""
        return ["", "", "", "", "", []] if ok else [gr.skip()] * 6

    add_button.click(guarded(add_item, lambda m: (m, False)),
                     [title, item_id, description, links, more_links, properties, write_token],
                     [add_report, added], api_name="add_item", concurrency_id="write", concurrency_limit=1,
                     ).then(clear, [added], [title, item_id, description, more_links, properties, links],
                            api_visibility="private")


def _discard(paths: list[str]) -> None:
    """Remove uploaded files from Gradio's cache once handled: they may hold raw user ids
    (pseudonymised only on the way into the store) and are not needed again."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
