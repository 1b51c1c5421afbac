"""The Gradio app (``kgrec serve``): :mod:`app.ui.actions` does the work without Gradio,
:mod:`app.ui.layout` lays it out in tabs, :mod:`app.ui.drawing` draws paths as pictures,
:mod:`app.ui.uploads` stages uploaded catalog files."""
from __future__ import annotations

from app.ui.actions import UiActions

__all__ = ["UiActions"]
