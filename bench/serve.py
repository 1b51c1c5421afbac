"""Serving benchmark: latency of recommend-with-explanations (k=10) through the
recommendation service, at concurrency 1 and 8, over the embedded store and over Neo4j
side by side, errors counted.

    KGREC_HOME=... [KGREC_NEO4J_URI=... KGREC_NEO4J_PASSWORD=...] \\
        python bench/serve.py [--requests 200] [--stores embedded,neo4j]

KGREC_HOME must hold a trained model (models/default) and the same catalog in each store
(``kgrec ingest --store embedded`` and ``--store neo4j``). Half the requests are known
users, half new users described by three liked items.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kgrec.app.service import RecommendationService
from kgrec.kg.settings import Settings


def requests_for(service: RecommendationService, n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    users = service.export.ids("User")
    items = service.export.ids("Item")
    out: list[dict[str, object]] = []
    for i in range(n):
        if i % 2 == 0:
            out.append({"id": i, "user_id": users[rng.integers(len(users))], "k": 10, "explain": True})
        else:
            out.append({"id": i, "liked": [items[j] for j in rng.choice(len(items), 3, replace=False)], "k": 10, "explain": True})
    return out


def run(service: RecommendationService, requests: list[dict[str, object]], concurrency: int) -> dict[str, float]:
    def one(request: dict[str, object]) -> tuple[float, bool]:
        started = time.perf_counter()
        try:
            [answer] = service.recommend([request])
            ok = answer["error"] is None and len(answer["items"]) == 10
        except Exception:  # noqa: BLE001 - a benchmark counts every failure
            ok = False
        return time.perf_counter() - started, ok

    service.recommend(requests[:4])  # warm up
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, requests))
    wall = time.perf_counter() - started
    latencies = np.array([r[0] for r in results]) * 1000
    return {
        "requests": len(requests), "concurrency": concurrency, "errors": sum(not r[1] for r in results),
        "p50_ms": float(np.percentile(latencies, 50)), "p95_ms": float(np.percentile(latencies, 95)),
        "p99_ms": float(np.percentile(latencies, 99)), "throughput_rps": len(requests) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    results = []
    for store in args.stores.split(","):
        service = RecommendationService(Settings.from_env(store=store))
        try:
            requests = requests_for(service, args.requests)
            for concurrency in (1, 8):
                row = {"store": store, **run(service, requests, concurrency)}
                results.append(row)
                print(f"{store:9} c={concurrency}: p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                      f"p99 {row['p99_ms']:7.1f} ms  {row['throughput_rps']:6.1f} req/s  errors {row['errors']}")
        finally:
            service.close()
    by = {(r["store"], r["concurrency"]): r for r in results}
    if ("embedded", 1) in by and ("neo4j", 1) in by:
        print(f"neo4j / embedded p95 at concurrency 1: {by[('neo4j', 1)]['p95_ms'] / by[('embedded', 1)]['p95_ms']:.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
