"""The Model tab: the loaded model, its latest evaluation (or a plain sentence that there
is none) and its training curve."""
from __future__ import annotations

import gradio as gr

from kgrec.app.ui.actions import UiActions
from kgrec.app.ui.actions.model import EVALUATION_COLUMNS
from kgrec.app.ui.tabs.common import PICTURE_BUTTONS, guarded, markdown, table


def build(actions: UiActions, app: gr.Blocks) -> None:
    with gr.Tab("Model", id="model"):
        text = markdown(elem_id="model-text")
        evaluation = table(EVALUATION_COLUMNS, "Latest evaluation (full ranking)", "evaluation")
        curve = gr.Image(type="filepath", label="Training curve", interactive=False, elem_id="training-curve",
                         buttons=PICTURE_BUTTONS)
        button = gr.Button("Refresh", elem_id="model-refresh")

    def model_info():
        """The loaded model, its latest evaluation results and training curve."""
        return actions.model_info()

    fallback = lambda m: (m, gr.skip(), None)  # noqa: E731
    button.click(guarded(model_info, fallback), None, [text, evaluation, curve], api_name="model_info")
    app.load(guarded(model_info, fallback), None, [text, evaluation, curve], api_visibility="private")
