"""Pictures of graph paths and neighbourhoods, drawn on the server (matplotlib + networkx)
into PNG images, so the page loads no drawing library and nothing from the internet.

Nodes are coloured by kind (item, user, or the entity's type); each edge is labelled with
its relationship in words and points the way the relationship does in the store.
Uses matplotlib's object API (no pyplot), which is safe from several threads at once.
Every text is drawn as it reads: mathtext is off, so ``$...$`` in a name is just text.
"""
from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from kgrec.kg.graph import NodeRef
from kgrec.kg.store.base import Neighbour
from kgrec.text.sentences import humanise

FIXED_COLOURS = {"item": "#4e79a7", "user": "#f28e2b"}
PALETTE = ("#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295")
SIZE = (10, 5.6)
DPI = 100

__all__ = ["draw_paths", "draw_neighbourhood", "humanise", "colour_of"]


def colour_of(kind: str, kinds: Sequence[str] = ()) -> str:
    """A stable colour per kind: items blue, users orange, entity types from a palette."""
    if kind in FIXED_COLOURS:
        return FIXED_COLOURS[kind]
    others = sorted({k for k in kinds if k not in FIXED_COLOURS} | {kind})
    return PALETTE[others.index(kind) % len(PALETTE)]


def draw_paths(explanations: Sequence[Mapping[str, object]], kinds: Mapping[tuple[str, str], str]) -> Image.Image:
    """The union of the explanations' paths (dicts as the service returns them: ``nodes``
    [{label, id, name}], ``relationships`` [{type, forward}]); the recommended item on
    the right, each node placed by its distance (in hops) from it."""
    graph = nx.MultiDiGraph()
    names: dict[tuple[str, str], str] = {}
    layer: dict[tuple[str, str], int] = {}
    for explanation in explanations:
        nodes = [(n["label"], n["id"]) for n in explanation["nodes"]]  # type: ignore[index, union-attr]
        for position, (node, raw) in enumerate(zip(nodes, explanation["nodes"])):  # type: ignore[arg-type]
            names[node] = str(raw["name"])
            layer[node] = max(layer.get(node, 0), len(nodes) - 1 - position)
            graph.add_node(node)
        for step, a, b in zip(explanation["relationships"], nodes, nodes[1:]):  # type: ignore[arg-type]
            src, dst = (a, b) if step["forward"] else (b, a)
            if not graph.has_edge(src, dst, key=step["type"]):
                graph.add_edge(src, dst, key=step["type"], label=humanise(str(step["type"])))
    for node in graph.nodes:
        graph.nodes[node]["layer"] = -layer[node]
    positions = nx.multipartite_layout(graph, subset_key="layer", align="vertical", scale=1.0)
    target = next((n for n in graph.nodes if layer[n] == 0), None)
    return _render(graph, positions, names, kinds, emphasise=target)


def draw_neighbourhood(
    centre: NodeRef, centre_name: str, neighbours: Sequence[tuple[Neighbour, str]], kinds: Mapping[tuple[str, str], str],
    limit: int = 30, total: int | None = None,
) -> Image.Image:
    """``centre`` in the middle, up to ``limit`` of ``neighbours`` around it, each edge
    labelled with its relationship; ``total``: how many neighbours there are in all."""
    graph = nx.MultiDiGraph()
    root = (centre.label, centre.id)
    names = {root: centre_name}
    graph.add_node(root)
    for neighbour, name in list(neighbours)[:limit]:
        node = (neighbour.node.label, neighbour.node.id)
        names[node] = name
        src, dst = (root, node) if neighbour.forward else (node, root)
        graph.add_edge(src, dst, key=neighbour.type, label=humanise(neighbour.type))
    others = [n for n in graph.nodes if n != root]
    positions = nx.shell_layout(graph, nlist=[[root], others]) if others else {root: (0.0, 0.0)}
    total = max(total or 0, len(neighbours))
    shown = min(limit, len(neighbours))
    title = None if shown == total else f"{shown} of {total:,} neighbours"
    return _render(graph, positions, names, kinds, emphasise=root, title=title)


def _render(graph: nx.MultiDiGraph, positions: Mapping, names: Mapping[tuple[str, str], str],
            kinds: Mapping[tuple[str, str], str], emphasise: tuple[str, str] | None, title: str | None = None) -> Image.Image:
    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.01, 0.01, 0.98, 0.98 if title is None else 0.92))
    axes.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=9)
    node_kinds = {n: kinds.get(n, n[0].lower()) for n in graph.nodes}
    every = sorted(set(node_kinds.values()))
    nodes = list(graph.nodes)
    nx.draw_networkx_nodes(
        graph, positions, ax=axes, nodelist=nodes, node_size=[900 if n == emphasise else 600 for n in nodes],
        node_color=[colour_of(node_kinds[n], every) for n in nodes],
        edgecolors=["#222222" if n == emphasise else "white" for n in nodes], linewidths=2,
    )
    nx.draw_networkx_edges(graph, positions, ax=axes, arrows=True, arrowsize=14, node_size=700,
                           edge_color="#888888", connectionstyle="arc3,rad=0.06")
    labels = {(u, v, k): d["label"] for u, v, k, d in graph.edges(keys=True, data=True)}
    nx.draw_networkx_edge_labels(graph, positions, edge_labels=labels, ax=axes, font_size=7, font_color="#444444",
                                 connectionstyle="arc3,rad=0.06", bbox={"boxstyle": "round", "fc": "white", "ec": "none", "alpha": 0.8})
    text = {n: "\n".join(textwrap.wrap(names.get(n, n[1]), 22)[:3]) for n in nodes}
    nx.draw_networkx_labels(graph, positions, labels=text, ax=axes, font_size=8, verticalalignment="top")
    # Labels hang below their node: move them down a little.
    for label in axes.texts[-len(nodes):]:
        x, y = label.get_position()
        label.set_position((x, y - 0.06))
    axes.margins(x=0.12, y=0.18)
    handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=colour_of(k, every),
                      markeredgecolor="white", label=k) for k in every]
    legend = axes.legend(handles=handles, loc="lower left", fontsize=8, frameon=False, ncol=min(len(handles), 6))
    # Names come from data: a "$" must stay a dollar, not start mathtext (which may not parse).
    for text in [*axes.texts, *figure.texts, *legend.get_texts()]:
        text.set_parse_math(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    image = Image.open(buffer)
    image.load()
    return image
