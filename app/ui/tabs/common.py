"""What every tab's builder uses: Markdown without LaTeX, the guard that turns an
unexpected error into one sentence, and empty tables."""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from kgrec.app.markup import escape, without_paths

log = logging.getLogger(__name__)

PICTURE_BUTTONS = ["fullscreen", "download"]
"""Pictures open full size."""
PICTURE_CLASSES = ["kgrec-picture"]
"""On a phone a picture keeps a readable size and scrolls sideways in its box (app/ui/layout.py's CSS)."""


def markdown(value: str = "", **options: Any) -> gr.Markdown:
    """A Markdown block without LaTeX rendering (a ``$$`` in a title stays text); text from
    data reaches it escaped (:func:`kgrec.app.markup.escape`), and Gradio sanitises the HTML."""
    return gr.Markdown(value, latex_delimiters=[], sanitize_html=True, **options)


def table(columns: list[str], label: str, elem_id: str) -> gr.Dataframe:
    """A read-only table; on a narrow screen it scrolls sideways inside its box."""
    return gr.Dataframe(empty(columns), label=label, interactive=False, elem_id=elem_id, elem_classes=["kgrec-table"])


def guarded(fn: Callable[..., Any], fallback: Callable[[str], Any]) -> Callable[..., Any]:
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


def toast(message: str) -> Any:
    """For outputs with no place for a sentence: Gradio shows the message in a pop-up."""
    raise gr.Error(message.replace("**", ""))


def empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


def picked_row(frame: pd.DataFrame, event: gr.SelectData, column: str) -> str:
    """The ``column`` value of the row a visitor clicked in a table."""
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    return str(frame.iloc[int(row)][column])
