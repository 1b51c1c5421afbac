"""Text placed on the page. :func:`escape`: text from data (titles, names, types, ids,
messages that quote them) placed into Markdown as plain text: it can never become a tag,
a link, an image or formatting. :func:`without_paths`: no server path in a message.

Every Markdown punctuation character that could start markup is backslash-escaped
(CommonMark renders ``\\<`` as a literal ``<``, so no HTML is produced), the colon of a
URL scheme, ``www.`` and ``@`` too (GFM would turn them into links), and line breaks
become spaces (a title cannot start a heading or a list).
"""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"[\\`*_\[\]<>#|&~$]")
_AUTOLINK = re.compile(r"(?i)(?<=https)(:)|(?<=http)(:)|(?<=ftp)(:)|(?<=mailto)(:)|(?<=www)(\.)|(@)")
_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
_PATH = re.compile(r"(?<![\w.~:/])(?:/[^\s'\"`/:,;()]+)+/([^\s'\"`/:,;()]*)")


def escape(text: object) -> str:
    """``text`` as Markdown that renders exactly as ``text`` reads."""
    plain = _BREAKS.sub(" ", str(text))
    plain = _PUNCTUATION.sub(r"\\\g<0>", plain)
    return _AUTOLINK.sub(lambda match: "\\" + match.group(0), plain)


def without_paths(text: object) -> str:
    """``text`` with every absolute server path cut to its last part
    (``/tmp/kgrec-upload-x1/upload has no items.csv`` -> ``upload has no items.csv``):
    messages shown to visitors never tell where the server keeps its files."""
    return _PATH.sub(lambda match: match.group(1), str(text))
