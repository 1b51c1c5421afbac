"""The Explain tab: one of the current recommendations' paths, as sentences, a picture
(opened full size with a click on a phone) and a table of hops."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kgrec.app.ui.actions import UiActions
from kgrec.app.ui.actions.explain import PATH_COLUMNS
from kgrec.app.ui.tabs.common import PICTURE_BUTTONS, PICTURE_CLASSES, guarded, markdown, table


@dataclass
class ExplainTab:
    items: gr.State
    """The current recommendations (set by the Recommend tab)."""
    which: gr.Dropdown
    outputs: list[gr.components.Component]
    show: Any
    """(items, item id) -> the outputs' values."""


def build(actions: UiActions) -> ExplainTab:
    with gr.Tab("Explain", id="explain"):
        items = gr.State([])
        which = gr.Dropdown(choices=[], label="Recommendation to explain", elem_id="explain-item")
        text = markdown("Get recommendations first (Recommend tab).", elem_id="path-text")
        image = gr.Image(type="pil", label="Paths through the graph", interactive=False, elem_id="path-image",
                         format="png", buttons=PICTURE_BUTTONS, elem_classes=PICTURE_CLASSES)
        hops = table(PATH_COLUMNS, "Hops", "path-table")

    def explain(current: list[dict], item_id: str | None = None):
        """The explanation paths of one of the current recommendations."""
        view = actions.explain_view(current or [], item_id)
        return view.markdown, view.image, view.table

    which.input(guarded(explain, lambda m: (m, None, gr.skip())), [items, which], [text, image, hops], api_name="explain")
    return ExplainTab(items, which, [text, image, hops], explain)
