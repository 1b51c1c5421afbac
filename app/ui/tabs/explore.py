"""The Explore tab: search items (the words of their titles, or their meaning) and
entities (by name and type), and see a node's neighbourhood: its properties, a table and a
picture (opened full size with a click)."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from kgrec.app.ui.actions import UiActions
from kgrec.app.ui.actions.explore import ENTITY_COLUMNS, NEIGHBOUR_COLUMNS, SEARCH_COLUMNS
from kgrec.app.ui.search import ANY_TYPE
from kgrec.app.ui.tabs.common import PICTURE_BUTTONS, PICTURE_CLASSES, guarded, markdown, picked_row, table, toast
from kgrec.kg.identifiers import ENTITY, ITEM, LABELS


def build(actions: UiActions) -> None:
    with gr.Tab("Explore", id="explore"):
        with gr.Row():
            query = gr.Textbox("", label="Search items", placeholder="words of a title, or what it is about",
                               elem_id="explore-query", min_width=200)
            semantic = gr.Checkbox(False, label="By meaning (text embeddings)", elem_id="explore-semantic")
        search_button = gr.Button("Search", elem_id="explore-search")
        results = table(SEARCH_COLUMNS, "Items (click a row to see its neighbourhood)", "explore-results")
        with gr.Row():
            entity_query = gr.Textbox("", label="Search entities (words of a name, or of a title it belongs to)",
                                      placeholder="e.g. star wars", elem_id="entity-query", min_width=200)
            entity_type = gr.Dropdown(choices=[ANY_TYPE, *actions.entity_types()], value=ANY_TYPE, label="Entity type",
                                      elem_id="entity-type", min_width=160)
        entity_button = gr.Button("Search entities", elem_id="entity-search")
        entities = table(ENTITY_COLUMNS, "Entities (click a row to see its neighbourhood)", "entity-results")
        with gr.Row():
            label = gr.Dropdown(choices=list(LABELS), value=ITEM, label="Label", elem_id="node-label", min_width=120)
            node_id = gr.Textbox("", label="Node id", elem_id="node-id", min_width=160)
            neighbours_button = gr.Button("Neighbourhood", elem_id="neighbours-button", min_width=120)
        node_text = markdown(elem_id="node-text")
        node_image = gr.Image(type="pil", label="Neighbourhood", interactive=False, format="png", elem_id="node-image",
                              buttons=PICTURE_BUTTONS, elem_classes=PICTURE_CLASSES)
        node_table = table(NEIGHBOUR_COLUMNS, "Neighbours", "node-table")

    def search(query_text: str, by_meaning: bool = False):
        """Items whose titles hold every word of the query (any order), or by meaning."""
        return actions.search_items(query_text, semantic=by_meaning)

    search_button.click(guarded(search, toast), [query, semantic], [results], api_name="search_items")
    query.submit(guarded(search, toast), [query, semantic], [results], api_visibility="private")

    def search_entities(query_text: str, type_value: str = ANY_TYPE):
        """Entities by name and type (an entity known only by a code is found by the titles it belongs to)."""
        return actions.search_entities(query_text, type_value)

    entity_button.click(guarded(search_entities, toast), [entity_query, entity_type], [entities],
                        api_name="search_entities")
    entity_query.submit(guarded(search_entities, toast), [entity_query, entity_type], [entities],
                        api_visibility="private")

    def neighbourhood(label_value: str = ITEM, node: str = ""):
        """A node's properties, neighbours and picture."""
        view = actions.neighbourhood(label_value, node)
        return view.markdown, view.image, view.table

    outputs = [node_text, node_image, node_table]
    neighbours_button.click(guarded(neighbourhood, lambda m: (m, None, gr.skip())), [label, node_id], outputs,
                            api_name="neighbours")

    def picker(node_label: str, column: str):
        def pick(frame: pd.DataFrame, event: gr.SelectData):
            node = picked_row(frame, event, column)
            return (node_label, node, *neighbourhood(node_label, node))
        return guarded(pick, lambda m: (gr.skip(), gr.skip(), m, None, gr.skip()))

    results.select(picker(ITEM, "item_id"), [results], [label, node_id, *outputs], api_visibility="private")
    entities.select(picker(ENTITY, "entity_id"), [entities], [label, node_id, *outputs], api_visibility="private")
