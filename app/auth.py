"""Who may read and who may write: one check for the Gradio app, the HTTP API and the CLI's
``--url`` client.

Tokens come from the environment (:class:`~kgrec.kg.settings.Settings`: ``KGREC_API_TOKEN`` for
writes, ``KGREC_READ_TOKEN`` for reads); with neither set, everyone may read and write, as
a local single-user install expects. The write token also grants reads. Tokens are
compared in constant time.
"""
from __future__ import annotations

import hmac

from kgrec.kg.errors import AccessDenied
from kgrec.kg.settings import Settings


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def authorize(settings: Settings, token: str | None, write: bool) -> None:
    """Raise :class:`AccessDenied` unless ``token`` allows the operation.

    ``write``: the operation changes the store (ingest, add item, events). Read-only mode
    refuses every write (403) whatever the token; a missing or wrong token is 401."""
    if write:
        if settings.read_only:
            raise AccessDenied("this server is read-only: writes are refused", status=403)
        if settings.api_token and not _matches(token, settings.api_token):
            raise AccessDenied("this write needs the API token (KGREC_API_TOKEN)" if token is None
                               else "the API token is wrong", status=401)
        return
    if settings.read_token and not (_matches(token, settings.read_token)
                                    or (settings.api_token is not None and _matches(token, settings.api_token))):
        raise AccessDenied("reading needs the read token (KGREC_READ_TOKEN)" if token is None
                           else "the read token is wrong", status=401)


def writes_protected(settings: Settings) -> bool:
    """Whether an anonymous visitor is kept from writing."""
    return settings.read_only or bool(settings.api_token)
