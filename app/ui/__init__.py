"""The Gradio app (``kgrec serve``): :mod:`app.ui.actions` does the work without Gradio (one
module per tab), :mod:`app.ui.tabs` lays each tab out, :mod:`app.ui.layout` puts the tabs
together and serves them, :mod:`app.ui.search` finds items and entities by words,
:mod:`app.ui.drawing` draws paths as pictures, :mod:`app.ui.uploads` stages uploaded
catalog files, :mod:`app.ui.lock` keeps readers from a half-reloaded service."""
from __future__ import annotations

from app.ui.actions import UiActions

__all__ = ["UiActions"]
