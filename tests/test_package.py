"""The distribution installs one top-level package, ``kgrec``, and the ``kgrec`` script."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("kg", "gnn", "text", "app")


def test_the_wheel_installs_only_kgrec_and_its_console_script(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(REPO)],
                   check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("kgrec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = next(name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info"))
    assert {name.split("/")[0] for name in names} == {"kgrec", dist_info}
    sources = {f"kgrec/{path.relative_to(REPO)}" for package in SUBPACKAGES for path in (REPO / package).rglob("*.py")}
    assert sources - names == set(), "modules missing from the wheel (add their package to pyproject.toml)"

    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=300)
    assert {path.name for path in target.iterdir()} == {"kgrec", dist_info, "bin"}
    assert "from kgrec.app.cli import main" in (target / "bin" / "kgrec").read_text()
    # -I -S: no PYTHONPATH, no site-packages (so not this checkout or its editable install): the folder alone
    probe = (f"import sys; sys.path.insert(0, {str(target)!r}); import importlib.util, kgrec.kg.identifiers; "
             "print([importlib.util.find_spec(name) is None for name in ('kg', 'gnn', 'text', 'app')])")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, True, True, True]"
