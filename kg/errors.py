"""Errors a user can cause. The CLI prints their message and exits non-zero."""


class KgrecError(Exception):
    """Base class: the message is meant for the person running kgrec."""


class CatalogError(KgrecError):
    """A catalog cannot be read at all (missing file, missing column, empty file)."""


class StoreError(KgrecError):
    """The graph store cannot be reached or refused an operation."""


class StoreUnavailable(StoreError):
    """The store is known to be down (or too slow): a served read fails at once instead of
    waiting, and the service answers from memory (see ``kgrec.kg.store.guard``)."""


class ValidationFailed(KgrecError):
    """Rows were rejected under --strict; nothing was written."""


class AccessDenied(KgrecError):
    """A request lacks the token an operation needs (401), or the server refuses every
    write (403, read-only mode)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status
