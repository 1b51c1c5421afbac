"""Neo4j SIGKILLed under a serving ``kgrec serve``: do recommendations keep answering, and
how soon do explanations come back once Neo4j does?

    python bench/faults_neo4j.py [--seconds 10] [--epochs 3]

Starts its own Neo4j (``scripts/neo4j-local``, a temporary data folder and port), ingests
ml-100k into it, trains a small model (quality does not matter here), starts ``kgrec serve
--store neo4j`` and sends ``POST /v1/recommend`` (k = 20, ``explain: true``) one after
another from one client, in three phases:

1. **up**: Neo4j serving;
2. **down**: right after ``kill -9`` of the Neo4j process, for ``--seconds``;
3. **back**: Neo4j started again on the same data; requests until one carries explanations
   again, timed from the moment Neo4j reports ready.

An answer is an error when the HTTP status is not 200 or it holds no items. Everything runs
on loopback; every loop is bounded in time.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
REQUEST = {"id": "bench", "user_id": "196", "k": 20, "explain": True}
RECOVERY_LIMIT_S = 60.0


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    explained: int = 0
    warnings: set[str] = field(default_factory=set)
    """What the answers without explanations said, each once."""

    def add(self, seconds: float, response: httpx.Response | None) -> bool:
        """Record one answer; True when it carried explanations."""
        self.latencies.append(seconds)
        if response is None or response.status_code != 200 or not response.json().get("items"):
            self.errors += 1
            return False
        answer = response.json()
        explained = any(entry.get("explanations") for entry in answer["items"])
        self.explained += explained
        if not explained:
            self.warnings.update(answer.get("warnings") or ["(no warning)"])
        return explained

    def row(self) -> str:
        lat = np.asarray(self.latencies) * 1000
        p50, p95 = (np.percentile(lat, q) for q in (50, 95)) if lat.size else (float("nan"),) * 2
        return (f"{self.name:<6} {len(self.latencies):>8} {self.errors:>7} {self.explained:>10} "
                f"{p50:>9.1f} {p95:>9.1f}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kgrec(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "kgrec.app.cli", *args], env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kgrec {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def _neo4j(action: str, data: Path, port: int, env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run([str(REPO / "scripts/neo4j-local"), action, "--data", str(data), "--port", str(port),
                           "--heap", "1g", "--pagecache", "512m"] if action == "start" else
                          [str(REPO / "scripts/neo4j-local"), action, "--data", str(data)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"neo4j-local {action} failed:\n{done.stderr[-2000:]}")
    exported = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            exported[key] = value.strip("'\"")
    return exported


def _ask(client: httpx.Client, url: str, phase: Phase) -> bool:
    started = time.perf_counter()
    try:
        response = client.post(f"{url}/v1/recommend", json=REQUEST, timeout=30)
    except httpx.HTTPError:
        response = None
    return phase.add(time.perf_counter() - started, response)


def run(seconds: float, epochs: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="kgrec-faults-neo4j-"))
    data, bolt, http_port = work / "neo4j", _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": str(work / "home"),
                                                                                   "PYTHONPATH": str(REPO)}
    env |= _neo4j("start", data, bolt, env)
    server = None
    try:
        print("ingesting ml-100k and training a small model ...", flush=True)
        _kgrec("ingest", "--dataset", "ml-100k", "--store", "neo4j", env=env)
        _kgrec("train", "--store", "neo4j", "--epochs", str(epochs), "--device", "cpu", env=env)
        server = subprocess.Popen([sys.executable, "-m", "kgrec.app.cli", "serve", "--store", "neo4j", "--port", str(http_port)],
                                  env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{http_port}"
        with httpx.Client() as client:
            deadline = time.time() + 300
            while True:
                try:
                    if client.get(f"{url}/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("kgrec serve did not come up")
                time.sleep(0.5)
            phases = [Phase("up"), Phase("down"), Phase("back")]
            end = time.time() + seconds
            while time.time() < end:
                _ask(client, url, phases[0])
            pid = int((data / "neo4j.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed = time.time()
            while time.time() < killed + seconds:
                _ask(client, url, phases[1])
            health_down = client.get(f"{url}/v1/health", timeout=5).json()
            _neo4j("start", data, bolt, env)
            ready = time.time()
            recovered = None
            while time.time() < ready + RECOVERY_LIMIT_S:
                if _ask(client, url, phases[2]):
                    recovered = time.time() - ready
                    break
                time.sleep(0.05)
            health_back = client.get(f"{url}/v1/health", timeout=5).json()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        _neo4j("stop", data, bolt, env)
    print(f"{'phase':<6} {'requests':>8} {'errors':>7} {'explained':>10} {'p50 ms':>9} {'p95 ms':>9}")
    for phase in phases:
        print(phase.row())
    for phase in phases:
        for warning in sorted(phase.warnings)[:3]:
            print(f"  {phase.name}, unexplained: {warning[:160]}")
    print(f"health while down: {health_down.get('status')}; after: {health_back.get('status')}")
    print("explanations back " + (f"{recovered:.2f} s after Neo4j was ready" if recovered is not None
                                  else f"not within {RECOVERY_LIMIT_S:.0f} s"))
    down = np.percentile(np.asarray(phases[1].latencies), 95) if phases[1].latencies else float("nan")
    up = np.percentile(np.asarray(phases[0].latencies), 95) if phases[0].latencies else float("nan")
    print(f"p95 down / up: {down / up:.2f}x; targets: p95 down < 1 s ({'met' if down < 1 else 'missed'}), "
          f"0 errors ({'met' if phases[1].errors == 0 else 'missed'}), explanations back < 5 s "
          f"({'met' if recovered is not None and recovered < 5 else 'missed'})")
    return {"phases": {p.name: {"requests": len(p.latencies), "errors": p.errors, "explained": p.explained,
                                "p95_ms": float(np.percentile(np.asarray(p.latencies) * 1000, 95)) if p.latencies else None}
                       for p in phases},
            "recovered_s": recovered, "health_down": health_down.get("status")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the up and down phases")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of the throwaway model")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run(args.seconds, args.epochs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
