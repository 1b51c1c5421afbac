"""Text from data on the page: escaped Markdown, no server paths (app/markup.py). The
browser test (tests/app/test_browser.py) checks the same titles rendered by Gradio."""
from __future__ import annotations

import pytest

from kgrec.app.markup import escape, without_paths


@pytest.mark.parametrize(("text", "shown"), [
    ("Heat (1995)", "Heat (1995)"),
    ("Star Wars: The Clone Saga", "Star Wars: The Clone Saga"),
    ("<img src=http://evil.example/x.png>", "\\<img src=http\\://evil.example/x.png\\>"),
    ("[click](https://evil.example)", "\\[click\\](https\\://evil.example)"),
    ("visit www.evil.example or mail me@evil.example", "visit www\\.evil.example or mail me\\@evil.example"),
    ("*bold* _it_ `code` # | ~ & $x$", "\\*bold\\* \\_it\\_ \\`code\\` \\# \\| \\~ \\& \\$x\\$"),
    ("two\nlines\r\n# heading", "two lines \\# heading"),
    ("back\\slash", "back\\\\slash"),
])
def test_escape(text: str, shown: str) -> None:
    assert escape(text) == shown


@pytest.mark.parametrize(("text", "shown"), [
    ("/tmp/kgrec-upload-x1/upload has no interactions.csv", "upload has no interactions.csv"),
    ("No such file: '/root/.kgrec/models/default/weights.pt'", "No such file: 'weights.pt'"),
    ("see http://127.0.0.1:7860/gradio_api/info", "see http://127.0.0.1:7860/gradio_api/info"),
    ("ratings 1/5 and a/b", "ratings 1/5 and a/b"),
])
def test_without_paths(text: str, shown: str) -> None:
    assert without_paths(text) == shown
