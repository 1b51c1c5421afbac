"""The Recommend tab: a known user, or a new one (liked items, attribute values, free
text); the top K with each item's explanation sentences. The liked-items picker takes only
items of the catalog, found by the words of their titles as one types."""
from __future__ import annotations

import html
import inspect
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from kgrec.app.ui.actions import UiActions
from kgrec.app.ui.actions.recommend import CHOICES, RECOMMEND_COLUMNS, not_items_message
from kgrec.app.ui.tabs.common import guarded, markdown, table
from kgrec.app.ui.tabs.explain import ExplainTab


@dataclass
class RecommendTab:
    inputs: list[gr.components.Component]
    button: gr.Button
    table: gr.Dataframe
    sentences: gr.Markdown


def build(actions: UiActions) -> RecommendTab:
    attributes = actions.attribute_choices()
    with gr.Tab("Recommend", id="recommend"):
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                user = gr.Dropdown(choices=[], value=None, label="Known user id (optional; type to search)",
                                   allow_custom_value=True, filterable=True, elem_id="user-id")
                item_search = gr.Textbox("", label="Find items to like: words of a title, any order (Enter)",
                                         placeholder="e.g. star wars", elem_id="item-search")
                # Custom values reach the server (the API sends ids without a picker), which keeps items only.
                liked = gr.Dropdown(choices=[], value=[], multiselect=True, allow_custom_value=True, filterable=True,
                                    label="Items the user liked (pick from the list the search above fills)",
                                    elem_id="liked")
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
                button = gr.Button("Recommend", variant="primary", elem_id="recommend-button")
            with gr.Column(scale=2, min_width=280):
                results = table(RECOMMEND_COLUMNS, "Top K", "recommendations")
                sentences = markdown(elem_id="explanations")

    def search_liked(query_text: str, selected: list[str] | None):
        """Offer the items whose titles hold the query's words (then a few by meaning) in the liked-items picker (the picked ones stay)."""
        selected = list(selected or [])
        found = actions.item_choices(query_text, limit=CHOICES) if (query_text or "").strip() else []
        kept = [(actions.item_label(i), i) for i in selected]
        return gr.update(choices=kept + [c for c in found if c[1] not in selected], value=selected)

    item_search.submit(guarded(search_liked, lambda m: gr.skip()), [item_search, liked], [liked], api_name="search_liked")

    def suggest_liked(selected: list[str] | None, typed: gr.KeyUpData):
        # Choices only: the value sent with a keystroke may be older than a pick made since.
        kept = [(actions.item_label(i), i) for i in selected or []]
        # Titles only: the picker shows just the choices holding what was typed, so items found by
        # meaning would stay hidden (the find-items box above offers them).
        found = (actions.item_choices(typed.input_value or "", limit=CHOICES, by_meaning=False)
                 if (typed.input_value or "").strip() else [])
        return gr.update(choices=kept + [c for c in found if c not in kept])

    def keep_items(selected: list[str] | None):
        """Only items of the catalog stay picked: text that names none is dropped, and a notice says so."""
        ids, unknown = actions.liked_items(selected or [])
        if ids == list(selected or []):
            return gr.skip()
        if unknown:
            gr.Warning(not_items_message(unknown, quote=html.escape), title="Not added")  # a notice shows HTML
        return gr.update(value=ids)

    # On every change (a typed value added with Enter fires no input event); the update it
    # makes changes nothing more, so it ends there.
    liked.change(guarded(keep_items, lambda m: gr.skip()), [liked], [liked], api_visibility="private",
                 show_progress="hidden")

    def suggest_users(_value: str | None, typed: gr.KeyUpData):
        return gr.update(choices=actions.user_choices(typed.input_value or "", limit=CHOICES))

    # Every key is answered, in order (one at a time), so the last answer is for the whole
    # text typed: collapsing fast keystrokes ("always_last") answered for a stale prefix.
    liked.key_up(guarded(suggest_liked, lambda m: gr.skip()), [liked], [liked], api_visibility="private",
                 show_progress="hidden", trigger_mode="multiple", concurrency_id="suggest", concurrency_limit=1)
    user.key_up(guarded(suggest_users, lambda m: gr.skip()), [user], [user], api_visibility="private",
                show_progress="hidden", trigger_mode="multiple", concurrency_id="suggest", concurrency_limit=1)
    return RecommendTab([user, liked, text, k, only_new, *attribute_inputs], button, results, sentences)


def wire(actions: UiActions, tab: RecommendTab, explain: ExplainTab) -> None:
    """The Recommend button: the top K here, the first item's paths in the Explain tab."""
    names = list(actions.attribute_choices())

    def recommend(user_id: str | None = None, liked_ids: list[str] | None = None, free_text: str | None = None,
                  k_value: float = 10, new_only: bool = False, *attribute_values: str | None):
        """Top K for a known user (user_id) or a new one (liked item ids, attribute values, free text)."""
        view = actions.recommend(user_id, liked_ids or [], dict(zip(names, attribute_values)), free_text,
                                 int(k_value), only_new=bool(new_only))
        choices = view.choices()
        return (view.table, view.markdown, view.items,
                gr.update(choices=choices, value=choices[0][1] if choices else None))

    _name_attribute_parameters(recommend, names)
    tab.button.click(
        guarded(recommend, lambda m: (gr.skip(), m, [], gr.skip())), tab.inputs,
        [tab.table, tab.sentences, explain.items, explain.which], api_name="recommend",
    ).then(guarded(explain.show, lambda m: (m, None, gr.skip())), [explain.items, explain.which], explain.outputs,
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

    gr.api(guarded(recommend_json, lambda m: {"id": None, "items": [], "fallback": None, "error": m}),
           api_name="recommend_json")


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
