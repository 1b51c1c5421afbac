"""The Gradio app (``kgrec serve``): :mod:`kgrec.app.ui.actions` does the work without Gradio (one
module per tab), :mod:`kgrec.app.ui.tabs` lays each tab out, :mod:`kgrec.app.ui.layout` puts the tabs
together and serves them, :mod:`kgrec.app.ui.search` finds items and entities by words,
:mod:`kgrec.app.ui.drawing` draws paths as pictures, :mod:`kgrec.app.ui.uploads` stages uploaded
catalog files, :mod:`kgrec.app.ui.lock` keeps readers from a half-reloaded service."""
from __future__ import annotations

from kgrec.app.ui.actions import UiActions

__all__ = ["UiActions"]
