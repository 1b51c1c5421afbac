"""Scale benchmark: how kgrec's costs grow with the catalog, on synthetic catalogs of
growing size (``kgrec data synth`` presets), printed side by side with the fitted growth
exponent of each cost between consecutive sizes.

    KGREC_NEO4J_URI=... KGREC_NEO4J_PASSWORD=... \\
        python bench/scale.py [--sizes synth-100k,synth-1m,synth-10m] [--epochs 2,2,0] \\
        [--steps ingest,bulk,train,serve] [--requests 200] [--root DIR] [--json FILE]

Per size, each step in its own process (so its peak RSS is its own), in a KGREC_HOME of its
own under ``--root``:

- **ingest**: ``kgrec ingest --catalog`` into the Neo4j named by ``KGREC_NEO4J_URI``,
  cleared first (a fresh database: the CREATE path); seconds, rows/s, peak RSS;
- **bulk**: ``kgrec ingest --catalog --bulk`` (Neo4j's offline importer) into a fresh
  local Neo4j folder of its own (``scripts/neo4j-local``), then that Neo4j started and the
  store opened on it (its constraints created, as on a first connect): the import's seconds,
  rows/s and peak RSS (sampled: of kgrec, of the importer's JVM, of both together), the
  start's seconds, their total, and ``bulk_speedup``, the Bolt ingest's seconds over that total;
- **train**: ``kgrec train --epochs E`` over that Neo4j (the budget, not early stopping:
  a few epochs to time one; ``--epochs`` one figure per size, 0 for a model that is only
  initialised and propagated, so that serving can be measured where training is too long
  for the run); seconds per epoch (the training steps, from the curve), whole wall time
  (export, text embeddings, graph, epochs, validation, cold-start fits), peak RSS;
- **serve**: a :class:`~kgrec.app.service.RecommendationService` started with each retrieval
  (exact, faiss, neo4j): start seconds and RSS after start, then ``--requests`` requests
  of known users (k = 20, no explanations) one at a time: p50/p95 ms, and the recall@20
  of each index's answers against the exact scan's.

The exponent of a cost ``c`` between sizes ``n1 < n2`` (interactions) is
``log(c2 / c1) / log(n2 / n1)``: 1 is linear.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

STEPS = ("ingest", "bulk", "train", "serve")
LAUNCHER = Path(__file__).resolve().parents[1] / "scripts" / "neo4j-local"
RETRIEVALS = ("exact", "faiss", "neo4j")


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, object], float, float]:
    """Run ``python bench/scale.py --child ...`` (or a CLI); its JSON line, wall seconds and
    peak RSS in GB (of that process alone, from ``wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit code {proc.returncode}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), wall, usage.ru_maxrss / 1024**2


def clear_neo4j(env: dict[str, str]) -> None:
    from kgrec.kg.settings import Settings
    from kgrec.kg.store.neo4j import Neo4jStore

    store = Neo4jStore(Settings.from_env(environ=env, store="neo4j"))
    try:
        store.clear()
    finally:
        store.close()


def run_sampled(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Run a command (it must succeed); wall seconds and the peak RSS in GB, sampled every
    0.2 s, of the command itself (``bulk_rss_gb``), of the largest process it started (the
    importer's JVM, ``bulk_child_rss_gb``) and of all of them together (``bulk_tree_rss_gb``)."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    own = child = tree = 0
    while proc.poll() is None:
        try:
            mine = root.memory_info().rss
            theirs = [p.memory_info().rss for p in root.children(recursive=True)]
        except psutil.Error:
            continue
        own, child, tree = max(own, mine), max(child, *theirs, 0), max(tree, mine + sum(theirs))
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit code {proc.returncode}")
    return time.perf_counter() - started, {"bulk_rss_gb": own / 1024**3, "bulk_child_rss_gb": child / 1024**3,
                                          "bulk_tree_rss_gb": tree / 1024**3}


def bulk(folder: Path, home: Path, env: dict[str, str]) -> dict[str, float]:
    """The offline import into a fresh folder, then that Neo4j started and opened (its
    constraints built); the Neo4j is stopped again and its folder removed."""
    from kgrec.kg.settings import Settings
    from kgrec.kg.store.neo4j import Neo4jStore

    data = home / "neo4j-bulk"
    shutil.rmtree(data, ignore_errors=True)
    cli = [sys.executable, "-m", "kgrec.app.cli"]
    wall, peaks = run_sampled([*cli, "ingest", "--catalog", str(folder), "--bulk", "--neo4j-data", str(data)], env)
    written = json.loads(max((home / "reports").glob("*/report.json")).read_text()).get("written", {})
    rows = sum(int(v) for v in written.values())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    out = subprocess.run([str(LAUNCHER), "start", "--data", str(data), "--port", str(port), "--heap", "2g",
                          "--pagecache", "1g"], env=env, capture_output=True, text=True, check=True).stdout
    try:
        values = dict(word.split("=", 1) for word in shlex.split(out) if "=" in word)
        store = Neo4jStore(Settings.from_env(environ={**env, **values}, store="neo4j"))
        try:
            counted = store.counts()
        finally:
            store.close()
        start_s = time.perf_counter() - started
    finally:
        subprocess.run([str(LAUNCHER), "stop", "--data", str(data)], env=env, capture_output=True, check=True)
        shutil.rmtree(data, ignore_errors=True)
    stored = sum(counted.labels.values()) + sum(counted.types.values())
    if stored != rows:
        raise SystemExit(f"the imported Neo4j holds {stored:,} nodes and relationships; the report wrote {rows:,}")
    return {"bulk_s": wall, "bulk_rows": rows, "bulk_rows_s": rows / wall, **peaks,
            "bulk_start_s": start_s, "bulk_total_s": wall + start_s}


def size_of(folder: Path) -> int:
    """Interactions in a catalog folder (its lines, less the header)."""
    with (folder / "interactions.csv").open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) - 1


def measure(name: str, steps: list[str], epochs: int, requests: int, root: Path) -> dict[str, object]:
    home = root / name
    env = {**os.environ, "KGREC_HOME": str(home), "KGREC_STORE": "neo4j", "KGREC_DEVICE": "cpu"}
    cli = [sys.executable, "-m", "kgrec.app.cli"]
    run_child([*cli, "data", "fetch", name, "-q"], env)
    folder = home / "data" / name
    row: dict[str, object] = {"size": name, "interactions": size_of(folder), "load": os.getloadavg()[0]}
    if "ingest" in steps:
        clear_neo4j(env)
        _, wall, rss = run_child([*cli, "ingest", "--catalog", str(folder), "--store", "neo4j"], env)
        written = json.loads(max((home / "reports").glob("*/report.json")).read_text()).get("written", {})
        rows = sum(int(v) for v in written.values())
        row.update(ingest_s=wall, ingest_rows=rows, ingest_rows_s=rows / wall, ingest_rss_gb=rss)
    if "bulk" in steps:
        row["load_bulk"] = os.getloadavg()[0]
        row.update(bulk(folder, home, env))
        if "ingest_s" in row:
            row["bulk_speedup"] = float(row["ingest_s"]) / float(row["bulk_total_s"])  # type: ignore[arg-type]
    if "train" in steps:
        out = home / "models" / "default"
        _, wall, rss = run_child([*cli, "train", "--epochs", str(epochs), "--patience", str(epochs), "--out", str(out)], env)
        curve = json.loads((out / "training_curve.json").read_text())
        seconds = [e["seconds"] for e in curve["records"]]
        row.update(train_epochs=len(seconds), train_wall_s=wall, train_rss_gb=rss, train_mode=curve["mode"],
                   train_batch=curve.get("batch_size", 0), train_valid_ndcg=curve.get("best_ndcg"))
        if seconds:
            row["train_s_epoch"] = float(np.median(seconds))
    if "serve" in steps:
        answers: dict[str, list[list[str]]] = {}
        for retrieval in RETRIEVALS:
            result, _, rss = run_child([sys.executable, __file__, "--child-serve", str(requests)],
                                       {**env, "KGREC_RETRIEVAL": retrieval})
            answers[retrieval] = result.pop("answers")  # type: ignore[assignment]
            row.update({f"{retrieval}_{k}": v for k, v in result.items()}, **{f"{retrieval}_peak_rss_gb": rss})
        for retrieval in RETRIEVALS[1:]:
            row[f"{retrieval}_recall20"] = float(np.mean([len(set(a) & set(e)) / max(len(e), 1)
                                                          for a, e in zip(answers[retrieval], answers["exact"])]))
    return row


def child_serve(requests: int) -> None:
    """In a child process: start the service (KGREC_RETRIEVAL chosen by the parent), time
    known-user requests one at a time, print one JSON line."""
    import resource

    from kgrec.app.service import RecommendationService
    from kgrec.kg.settings import Settings

    started = time.perf_counter()
    service = RecommendationService(Settings.from_env())
    start_s = time.perf_counter() - started
    rss = _rss_gb()
    try:
        users = service.state.user_ids
        picks = np.random.default_rng(0).choice(len(users), requests, replace=False)
        batch = [{"id": int(n), "user_id": str(users[n]), "k": 20} for n in picks]
        service.recommend(batch[:3])  # warm up
        latencies, answers = [], []
        for request in batch:
            began = time.perf_counter()
            [answer] = service.recommend([request])
            latencies.append((time.perf_counter() - began) * 1000)
            answers.append([i["item_id"] for i in answer["items"]])
    finally:
        service.close()
    print(json.dumps({"start_s": start_s, "rss_gb": rss, "p50_ms": float(np.percentile(latencies, 50)),
                      "p95_ms": float(np.percentile(latencies, 95)), "answers": answers,
                      "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))


def _rss_gb() -> float:
    """The resident set now (Linux ``/proc``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


COSTS = ("ingest_s", "ingest_rss_gb", "bulk_s", "bulk_total_s", "bulk_rss_gb", "bulk_tree_rss_gb", "train_s_epoch", "train_rss_gb", "exact_start_s", "exact_rss_gb",
         "exact_p95_ms", "faiss_start_s", "faiss_p95_ms", "neo4j_start_s", "neo4j_p95_ms")


def table(rows: list[dict[str, object]]) -> str:
    """The figures side by side, one column per size, and the growth exponents."""
    keys = [k for k in rows[0] if k != "size" and all(k in r for r in rows)]
    lines = [f"{'':24}" + "".join(f"{r['size']:>14}" for r in rows)]
    for key in keys:
        lines.append(f"{key:24}" + "".join(f"{_fmt(r[key]):>14}" for r in rows))
    for key in (k for k in COSTS if k in keys):
        exps = []
        for a, b in zip(rows, rows[1:]):
            ratio = float(b[key]) / float(a[key]) if float(a[key]) > 0 else float("nan")
            exps.append(math.log(ratio) / math.log(float(b["interactions"]) / float(a["interactions"])))
        lines.append(f"exponent {key:15}" + f"{'':>14}" + "".join(f"{e:>14.2f}" for e in exps))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="synth-100k,synth-1m,synth-10m")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--epochs", default="2", help="epochs per size, comma-separated (the last repeats)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--root", type=Path, default=Path("/tmp/kgrec-scale-bench"))
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--child-serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_serve:
        child_serve(args.child_serve)
        return
    if not os.environ.get("KGREC_NEO4J_URI"):
        raise SystemExit("set KGREC_NEO4J_URI (and KGREC_NEO4J_PASSWORD): the benchmark ingests into Neo4j")
    steps = args.steps.split(",")
    rows = []
    epochs = [int(e) for e in args.epochs.split(",")]
    for n, name in enumerate(args.sizes.split(",")):
        rows.append(measure(name, steps, epochs[min(n, len(epochs) - 1)], args.requests, args.root))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
