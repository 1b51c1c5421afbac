"""What the app does, without Gradio: each action takes plain values and returns plain
values (strings, DataFrames, images), so it is tested without a browser. One module per
tab (:mod:`.recommend`, :mod:`.explain`, :mod:`.catalog`, :mod:`.explore`, :mod:`.model`),
each a :class:`~kgrec.app.ui.actions.base.TabActions` over the same service and lock.

One :class:`UiActions` (all the tabs' actions) wraps one
:class:`~kgrec.app.service.RecommendationService` and is shared by every browser session.
Reading (recommend, explain, search) takes a shared lock; writing (ingesting into the
store, then ``service.reload()``) takes it alone, so a request never sees the service half
reloaded nor the embedded store half written.
"""
from __future__ import annotations

from kgrec.app.ui.actions.catalog import CatalogActions, IngestView
from kgrec.app.ui.actions.explain import ExplainActions, PathView
from kgrec.app.ui.actions.explore import ExploreActions
from kgrec.app.ui.actions.model import ModelActions
from kgrec.app.ui.actions.recommend import RecommendActions, Recommendations
from kgrec.app.ui.lock import ReadWriteLock


class UiActions(RecommendActions, ExplainActions, CatalogActions, ExploreActions, ModelActions):
    """Every tab's actions over one service and one lock."""


__all__ = ["IngestView", "PathView", "ReadWriteLock", "Recommendations", "UiActions"]
