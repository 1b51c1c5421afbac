"""Faults, one scenario after another (never two at once: they share the machine's cores).

    python bench/faults.py [--only writers,uploads,neo4j] [--quick]

- ``writers`` (``bench/faults_writers.py``): 4 ``kgrec ingest`` processes and one app
  writer on the embedded store, per round; catalogs and app items lost.
- ``uploads`` (``bench/faults_uploads.py``): zip bombs and a million-row upload against the
  app; time to refuse and recommend p95 meanwhile, beside idle. Needs ``KGREC_HOME`` with a
  trained model over the embedded store.
- ``neo4j`` (``bench/faults_neo4j.py``): Neo4j SIGKILLed under ``kgrec serve``; errors and
  p95 while it is down, time until explanations return once it is back.

Each scenario prints its own side-by-side table; this runner prints them in turn and stops
at the first that fails to run. ``--quick`` runs each at its smallest sensible size.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS: dict[str, tuple[str, list[str], list[str]]] = {
    "writers": ("faults_writers.py", ["--rounds", "20"], ["--rounds", "3"]),
    "uploads": ("faults_uploads.py", ["--requests", "200", "--concurrency", "4"], ["--requests", "50"]),
    "neo4j": ("faults_neo4j.py", ["--seconds", "10"], ["--seconds", "5"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios (default: all)")
    parser.add_argument("--quick", action="store_true", help="the smallest sensible size of each")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    for name in names:
        script, full, quick = SCENARIOS[name]
        print(f"\n=== {name} ({script}) ===", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *(quick if args.quick else full)])
        print(f"=== {name}: exit {done.returncode} after {time.perf_counter() - started:.0f} s ===", flush=True)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
