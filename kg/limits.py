"""How much one catalog may hold, wherever it comes in: ``kgrec ingest --catalog`` (the
reader and the validator), the app's uploads and its add-item form, the HTTP API.

One request must do bounded work: a file too big, a zip that expands too far, too many
rows or an over-long field is refused (the file) or rejected (the row) with a sentence
saying which limit, before anything is parsed in full or written. The README's "Limits"
section lists these values.
"""
from __future__ import annotations

MAX_UPLOAD_BYTES = 256 * 1024**2
"""One uploaded file, as sent (a table or a zip)."""
MAX_TABLE_BYTES = 256 * 1024**2
"""One table file as read: on disk for the CLI, expanded from a zip for uploads."""
MAX_EXPANDED_BYTES = 512 * 1024**2
"""All the tables of one zip together, expanded."""
MAX_RATIO = 100
"""Expanded size over compressed size of a zip member: real catalogs compress 3-20 times;
more is a zip bomb (OWASP's advice: check the ratio before expanding)."""
RATIO_FROM_BYTES = 1024**2
"""The ratio is checked for members expanding beyond this (tiny files compress oddly)."""
MAX_MEMBERS = 1_000
"""Files in one zip."""
MAX_ROWS = 5_000_000
"""Rows of one table (ml-1m's 1,000,209 ratings fit five times)."""
MAX_FIELD = 20_000
"""Characters of any one field: a description's cap (the text model reads only the first
few hundred)."""
MAX_TITLE = 500
"""Characters of a title."""
MAX_REJECTED = 10_000
"""Rejected rows kept (in the report, ``rejected.csv`` and the page); the others are counted."""
MAX_RAW = 1_000
"""Characters of a rejected row's text kept in ``rejected.csv``."""
