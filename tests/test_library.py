"""The Python API (``import kgrec``): the README's example runs as written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kgrec

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_example_runs(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", readme_example()], capture_output=True, text=True, env=environ,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("accepted: 200 items") for line in lines), done.stdout
    recommended = next(line for line in lines if line.startswith("["))
    assert recommended.count("'i") == 5 and "'i1'" not in recommended and "'i2'" not in recommended
    assert "protocol warm" in done.stdout and "ease" in done.stdout and "most-popular" in done.stdout


def test_errors_are_kgrec_errors(tmp_path: Path) -> None:
    with pytest.raises(kgrec.KgrecError, match="either a catalog folder or dataset"):
        kgrec.ingest(home=tmp_path)
    with pytest.raises(kgrec.KgrecError, match="does not exist"):
        kgrec.ingest(tmp_path / "nowhere", home=tmp_path)
    with pytest.raises(kgrec.KgrecError, match="unknown protocol"):
        kgrec.evaluate("sideways", home=tmp_path)
    with pytest.raises(kgrec.KgrecError, match="unknown training setting"):
        kgrec.train(home=tmp_path, epochz=3)
