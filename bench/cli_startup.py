"""CLI start-up benchmark: wall time of light ``kgrec`` verbs against what every verb paid
when the CLI imported every command (torch and PyG), measured as ``import torch_geometric``.

    python bench/cli_startup.py [--runs 5]

Each command runs ``--runs`` times in a fresh process under an empty KGREC_HOME with the
embedded store; the median is reported, with its ratio to ``import torch_geometric``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import torch_geometric (before: every verb)": [sys.executable, "-c", "import torch_geometric"],
    "kgrec --help": [sys.executable, "-m", "kgrec.app.cli", "--help"],
    "kgrec stats": [sys.executable, "-m", "kgrec.app.cli", "stats", "--store", "embedded"],
    "kgrec data list": [sys.executable, "-m", "kgrec.app.cli", "data", "list"],
    "kgrec ingest --help": [sys.executable, "-m", "kgrec.app.cli", "ingest", "--help"],
}
REFERENCE = "import torch_geometric (before: every verb)"


def median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": home}
        seconds = {name: median_seconds(command, args.runs, env) for name, command in COMMANDS.items()}
    reference = seconds[REFERENCE]
    width = max(map(len, seconds))
    print(f"{'command':<{width}}  median s  vs import torch_geometric   ({args.runs} runs each)")
    for name, value in seconds.items():
        print(f"{name:<{width}}  {value:8.2f}  {value / reference:6.2f}x")


if __name__ == "__main__":
    main()
