"""Concurrent writers on the embedded store: 4 ``kgrec ingest --catalog`` processes and one
app-style writer (a process that opened the store before they started, as ``kgrec serve``
does, and keeps adding items through the store API while they run and once after), per
round; then count the catalogs and app items missing from the store.

    python bench/faults_writers.py [--rounds 20] [--ingests 4]

Each round uses a fresh KGREC_HOME under a temporary folder. ``tests/kg/test_store_concurrency.py``
runs one round of this scenario.
"""
from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kgrec.kg.store.embedded import EmbeddedStore

REPO = Path(__file__).resolve().parent.parent
ITEMS_PER_CATALOG = 30
APP_WRITE_PAUSE_S = 0.2


@dataclass
class RoundResult:
    lost_catalogs: list[str] = field(default_factory=list)
    lost_app_items: list[str] = field(default_factory=list)
    app_items: int = 0
    failed: list[str] = field(default_factory=list)
    """Ingests that exited non-zero, with the end of their error output."""
    seconds: float = 0.0


def write_catalogs(folder: Path, count: int) -> list[Path]:
    """``count`` disjoint catalogs (items, users with attributes, interactions, triples to one
    shared genre) plus ``base``, the catalog in the store before the round starts."""
    paths = []
    for name in ["base"] + [f"c{n}" for n in range(count)]:
        path = folder / name
        path.mkdir(parents=True, exist_ok=True)
        items = [f"{name}-item-{i}" for i in range(ITEMS_PER_CATALOG)]
        users = [f"{name}-user-{u}" for u in range(10)]
        (path / "items.csv").write_text("item_id,title,description\n" + "".join(
            f"{item},Title {item},A story numbered {i} of catalog {name}.\n" for i, item in enumerate(items)))
        (path / "users.csv").write_text("user_id,gender\n" + "".join(
            f"{user},{'female' if u % 2 else 'male'}\n" for u, user in enumerate(users)))
        (path / "interactions.csv").write_text("user_id,item_id,rating\n" + "".join(
            f"{user},{items[(u * 7 + j) % len(items)]},{1 + (u + j) % 5}\n" for u, user in enumerate(users) for j in range(5)))
        (path / "triples.csv").write_text("head,relation,tail\n" + "".join(f"{item},in_genre,genre:drama\n" for item in items))
        paths.append(path)
    return paths


def _environment(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")}
    return keep | {"KGREC_HOME": str(home), "KGREC_STORE": "embedded", "PYTHONPATH": str(REPO)}


def run_round(home: Path, catalogs: list[Path]) -> RoundResult:
    """One round: ``catalogs[0]`` ingested first, then the app writer and an ingest process per
    other catalog at once; then what the store lacks."""
    started = time.perf_counter()
    env = _environment(home)
    subprocess.run([sys.executable, "-m", "kgrec.app.cli", "ingest", "--catalog", str(catalogs[0])],
                   env=env, check=True, capture_output=True, timeout=300)
    writer = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--app-writer"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdin and writer.stdout
    if writer.stdout.readline().strip() != "ready":
        raise RuntimeError("the app writer did not start")
    ingests = {
        path.name: subprocess.Popen([sys.executable, "-m", "kgrec.app.cli", "ingest", "--catalog", str(path)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for path in catalogs[1:]
    }
    writer.stdin.write("go\n")
    writer.stdin.flush()
    result = RoundResult()
    for name, process in ingests.items():
        _, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            result.failed.append(f"{name}: exit {process.returncode}: {stderr.strip()[-300:]}")
    out, stderr = writer.communicate("last\n", timeout=300)
    if writer.returncode != 0:
        result.failed.append(f"app writer: exit {writer.returncode}: {stderr.strip()[-300:]}")
    written = [line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote ")]
    result.app_items = len(written)
    with EmbeddedStore(home / "store") as store:
        present = set(store.export().ids("Item"))
    result.lost_catalogs = [p.name for p in catalogs
                            if not {f"{p.name}-item-{i}" for i in range(ITEMS_PER_CATALOG)} <= present]
    result.lost_app_items = sorted(set(written) - present)
    result.seconds = time.perf_counter() - started
    return result


def app_writer() -> None:
    """The app's side: open the store before the ingests run, then add one item at a time
    through ``kgrec.kg.ingest.ingest`` (as the app's Add item does) until told ``last``, and one
    more; each id is printed (``wrote ID``) once its write returned."""
    import pandas as pd

    from kgrec.kg.catalog import Catalog
    from kgrec.kg.ingest import ingest
    from kgrec.kg.settings import Settings
    from kgrec.kg.store import open_store

    settings = Settings.from_env()
    written: list[str] = []
    with open_store(settings) as store:
        store.counts()
        print("ready", flush=True)
        sys.stdin.readline()  # go

        def add() -> None:
            item = f"app-item-{len(written)}"
            items = pd.DataFrame([{"item_id": item, "title": f"Added {item}", "description": ""}], dtype=object)
            ingest(Catalog(items=items, name=f"ui-item-{item}"), store, settings, strict=True, progress=False)
            written.append(item)
            print(f"wrote {item}", flush=True)

        while not select.select([sys.stdin], [], [], APP_WRITE_PAUSE_S)[0]:
            add()
        sys.stdin.readline()  # last: the ingests have finished
        add()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--ingests", type=int, default=4)
    parser.add_argument("--app-writer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app_writer:
        app_writer()
        return
    lost = lost_items = failed = 0
    with tempfile.TemporaryDirectory(prefix="kgrec-faults-") as tmp:
        catalogs = write_catalogs(Path(tmp) / "catalogs", args.ingests)
        for n in range(args.rounds):
            result = run_round(Path(tmp) / f"home-{n}", catalogs)
            lost += len(result.lost_catalogs)
            lost_items += len(result.lost_app_items)
            failed += len(result.failed)
            print(f"round {n + 1:>2}: {result.seconds:5.1f} s, catalogs lost: {len(result.lost_catalogs)}"
                  f"{' ' + ','.join(result.lost_catalogs) if result.lost_catalogs else ''}, "
                  f"app items lost: {len(result.lost_app_items)} of {result.app_items}, failed ingests: {len(result.failed)}",
                  flush=True)
            for failure in result.failed:
                print(f"          {failure}", flush=True)
    print(f"{args.rounds} rounds of {args.ingests} ingests + 1 app writer: {lost} catalogs lost "
          f"(of {args.rounds * (args.ingests + 1)}), {lost_items} app items lost, {failed} ingests failed")


if __name__ == "__main__":
    main()
