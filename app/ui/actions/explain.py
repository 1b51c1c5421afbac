"""The Explain tab's actions: one recommended item's paths as sentences, a table of hops
and a picture."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from PIL import Image

from kgrec.app.markup import escape
from kgrec.app.ui import drawing
from kgrec.app.ui.actions.base import TabActions
from kgrec.kg.graph import NodeRef

PATH_COLUMNS = ["path", "hop", "from", "relationship", "to"]


@dataclass
class PathView:
    markdown: str
    image: Image.Image | None
    table: pd.DataFrame


class ExplainActions(TabActions):
    def explain_view(self, items: Sequence[Mapping[str, object]], item_id: str | None) -> PathView:
        """The paths of one recommended item as sentences, a table and a picture."""
        empty = pd.DataFrame(columns=PATH_COLUMNS)
        if not items:
            return PathView("Get recommendations first (Recommend tab).", None, empty)
        chosen = next((i for i in items if str(i["item_id"]) == str(item_id)), None)
        if chosen is None:
            return PathView(f"**Error:** item {item_id!r} is not among the current recommendations.", None, empty)
        title = escape(str(chosen.get("title", chosen["item_id"])))
        explanations = list(chosen.get("explanations") or [])  # type: ignore[call-overload]
        if not explanations:
            return PathView(f"**{title}**: no path of at most three hops joins it to what you gave."
                            + _text_reason(chosen.get("text_neighbours")), None, empty)
        with self.lock.reading():
            kinds = {(n["label"], n["id"]): self.service.names.kind(NodeRef(n["label"], n["id"]))
                     for e in explanations for n in e["nodes"]}
        lines = [f"**{title}** — why it was recommended:"]
        rows = []
        for number, explanation in enumerate(explanations, start=1):
            lines.append(f"{number}. {explanation['sentence']} *(path score {float(explanation['score']):.3f})*")
            nodes, steps = explanation["nodes"], explanation["relationships"]
            for hop, (step, a, b) in enumerate(zip(steps, nodes, nodes[1:]), start=1):
                src, dst = (a, b) if step["forward"] else (b, a)
                rows.append((number, hop, src["name"], drawing.humanise(step["type"]), dst["name"]))
        image = drawing.draw_paths(explanations, kinds)
        return PathView("\n".join(lines), image, pd.DataFrame(rows, columns=empty.columns))


def _text_reason(neighbours: object) -> str:
    """A new item's reason when it has no path: the items its text is nearest to, which it
    was scored by (the answer's ``text_neighbours``)."""
    if not neighbours:
        return ""
    named = ", ".join(f"*{escape(str(n['name']))}* ({float(n['weight']):.0%})" for n in neighbours)  # type: ignore[index]
    return f" It is new, and was scored by the items whose text is nearest its own: {named}."


__all__ = ["PATH_COLUMNS", "ExplainActions", "PathView"]
