"""Hostile uploads against the app's actions (the layer the Gradio app calls, with its
read/write lock): how fast each is refused, and what recommend latency (k=10, with
explanations) does meanwhile, beside the same requests on an idle server.

    KGREC_HOME=... python bench/faults_uploads.py [--requests 200] [--concurrency 4]

KGREC_HOME must hold a trained model (models/default) over the embedded store. The
uploads, built in a temporary folder:

- ``rows-zip``: 12 KB that expand to 1,000,000 duplicate interaction rows;
- ``nul-zip``: 1 MB that expands to 1 GiB of NULs;
- ``rows-csv``: the same million rows as a plain 17 MB CSV (not a zip, so not refused
  from the directory: it is read and validated, every row rejected, while readers are
  served; the report keeps 10,000 of them).

Nothing valid is in them, so the store is not changed (each leaves a report).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

from kgrec.app.service import RecommendationService
from kgrec.app.ui.actions import UiActions
from bench.serve import requests_for
from kgrec.kg.settings import Settings

ROWS = 1_000_000


def hostile_uploads(folder: Path) -> dict[str, list[Path]]:
    rows = "user_id,item_id\n" + "hostile,no-such-item\n" * ROWS
    with zipfile.ZipFile(rows_zip := folder / "rows.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        out.writestr("rows/items.csv", "item_id,title\n")
        out.writestr("rows/interactions.csv", rows)
    with zipfile.ZipFile(nul_zip := folder / "nul.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        out.writestr("nul/interactions.csv", "user_id,item_id\n")
        with out.open("nul/items.csv", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(bytes(1024**2))
    plain = folder / "csv"
    plain.mkdir()
    (plain / "items.csv").write_text("item_id,title\n")
    (plain / "interactions.csv").write_text(rows)
    return {"rows-zip": [rows_zip], "nul-zip": [nul_zip], "rows-csv": [plain / "items.csv", plain / "interactions.csv"]}


def latencies(actions: UiActions, requests: list[dict[str, object]], concurrency: int) -> np.ndarray:
    """Milliseconds per request, ``concurrency`` threads taking requests in turn."""
    out: list[float] = []
    queue = list(requests)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                request = queue.pop()
            started = time.perf_counter()
            answer, _ = actions.answer(request)
            elapsed = (time.perf_counter() - started) * 1000
            assert answer["error"] is None, answer["error"]
            with lock:
                out.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    settings = Settings.from_env(store="embedded")
    service = RecommendationService(settings)
    actions = UiActions(service)
    requests = requests_for(service, args.requests)
    actions.answer(requests[0])  # warm up
    with tempfile.TemporaryDirectory(prefix="kgrec-faults-") as scratch:
        uploads = hostile_uploads(Path(scratch))
        refusals = {}
        for name, paths in uploads.items():
            started = time.perf_counter()
            view = actions.ingest_upload(paths)
            refusals[name] = {"seconds": round(time.perf_counter() - started, 3), "refused": not view.ok,
                              "answer": view.markdown.splitlines()[0][:160]}

        runs = {"idle": (latencies(actions, requests, args.concurrency), 0)}
        for phase, names in (("zip bombs", ("rows-zip", "nul-zip")), ("1M-row CSV", ("rows-csv",))):
            runs[phase] = under_attack(actions, requests, args.concurrency, [uploads[n] for n in names])
    service.close()

    print(f"{'upload':<10} {'refused or done in':>20}  answer")
    for name, result in refusals.items():
        print(f"{name:<10} {result['seconds']:>18.3f} s  {result['answer']}")
    print(f"\nrecommend (k=10, explained), {args.requests} requests, concurrency {args.concurrency}, "
          "while the uploads are sent again and again:")
    print(f"{'':<10}" + "".join(f"{phase:>14}" for phase in runs))
    for label, q in (("p50 ms", 50), ("p95 ms", 95), ("p99 ms", 99)):
        print(f"{label:<10}" + "".join(f"{np.percentile(values, q):>14.1f}" for values, _ in runs.values()))
    print(f"{'uploads':<10}" + "".join(f"{count:>14}" for _, count in runs.values()))
    print(json.dumps({"refusals": refusals, **{f"{phase} p95_ms": round(float(np.percentile(v, 95)), 1)
                                                for phase, (v, _) in runs.items()}}))


def under_attack(actions: UiActions, requests: list[dict[str, object]], concurrency: int,
                 uploads: list[list[Path]]) -> tuple[np.ndarray, int]:
    """Latencies while another thread sends ``uploads`` in a loop; how many it sent."""
    stop = threading.Event()
    sent = [0]

    def attack() -> None:
        while not stop.is_set():
            for paths in uploads:
                actions.ingest_upload(paths)
                sent[0] += 1

    attacker = threading.Thread(target=attack)
    attacker.start()
    time.sleep(0.5)
    measured = latencies(actions, requests, concurrency)
    stop.set()
    attacker.join()
    return measured, sent[0]


if __name__ == "__main__":
    main()
