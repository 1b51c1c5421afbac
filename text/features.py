"""Text features of the graph's nodes: what training and serving feed the model."""
from __future__ import annotations

import numpy as np

from kgrec.kg.graph import GraphExport
from kgrec.kg.identifiers import ENTITY, ITEM
from kgrec.text.encoder import TextEncoder
from kgrec.text.sentences import entity_sentences, item_sentences


def node_text_features(export: GraphExport, encoder: TextEncoder, progress: bool = True) -> dict[str, np.ndarray]:
    """``{"Item": (n_items, dim), "Entity": (n_entities, dim)}`` float32 embeddings, rows
    aligned with ``export.nodes[label]``. Items and entities are encoded in one call, so a
    cold run loads the model once and shows one progress bar; a warm run reads the cache."""
    items = item_sentences(export)
    entities = entity_sentences(export)
    vectors = encoder.encode(items + entities, progress=progress)
    return {ITEM: vectors[: len(items)], ENTITY: vectors[len(items):]}
