"""What every tab's actions share: the service, the read-write lock, and how a refused
action's sentence reaches the page."""
from __future__ import annotations

from kgrec.app.markup import escape, without_paths
from kgrec.app.ui.lock import ReadWriteLock
from kgrec.app.ui.search import EntityIndex
from kgrec.kg.errors import AccessDenied, KgrecError


class TabActions:
    """One :class:`~kgrec.app.service.RecommendationService` and the lock that keeps requests
    from seeing it half reloaded (reading: shared; changing the catalog: alone)."""

    def __init__(self, service, lock: ReadWriteLock | None = None) -> None:  # type: ignore[no-untyped-def]  # kgrec.app.service.RecommendationService
        self.service = service
        self.lock = lock or ReadWriteLock()
        self._entities: EntityIndex | None = None

    def entities(self) -> EntityIndex:
        """The current export's entities, searchable (built once per export)."""
        with self.lock.reading():
            export, names = self.service.export, self.service.names
        index = self._entities
        if index is None or index.export is not export:
            index = self._entities = EntityIndex(export, names)
        return index


def message(error: KgrecError) -> str:
    """A refused action's sentence for the page; a missing or wrong token says where to give it."""
    text = escape(without_paths(error))
    if isinstance(error, AccessDenied) and error.status == 401:
        text += ": give the write token in the field above the buttons."
    return text


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sorted_ids(ids) -> list[str]:  # type: ignore[no-untyped-def]
    """Numeric ids in numeric order, then the others."""
    ids = [str(i) for i in ids]
    return sorted(ids, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


__all__ = ["TabActions", "message", "shorten", "sorted_ids"]
