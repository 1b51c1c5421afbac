"""Real-time benchmark of the HTTP API (issue 11), over the embedded store and Neo4j side by
side, each served by a real ``kgrec serve`` process on a loopback port:

1. event -> the next ``/v1/recommend`` reflecting it (the item gone from the user's top 20,
   the list changed): p50/p95 from the moment ``POST /v1/events`` returns, against a whole
   ``RecommendationService.reload()`` (what the app did after every write before), ratio;
2. a new item posted to ``/v1/items`` -> recommendable (in a full ranking for a user who
   liked the Star Wars films; its rank there is printed);
3. sustained: ``--rate`` events/s (from 2 senders, each posting the events that fell due
   while its previous request was answered, as ``kgrec events --url`` does) for ``--seconds``
   while 8 clients ask for recommendations: errors, events accepted, events in the store
   afterwards (none lost), recommend p50/p95;
4. ``/v1/recommend`` at concurrency 1, k=20, no explanations: p50/p95.

    KGREC_HOME=... [KGREC_NEO4J_URI=... KGREC_NEO4J_PASSWORD=...] \\
        python bench/realtime.py [--stores embedded,neo4j] [--seconds 60] [--rate 200] [--json FILE]

KGREC_HOME must hold a trained model (models/default) and ml-100k in each store. The
benchmark WRITES events and one item per run into the stores (ids ``rt-<run>-...``): use a
scratch home and database.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from kgrec.app.service import RecommendationService
from kgrec.kg.settings import Settings
from kgrec.kg.store import open_store

TOKEN = secrets.token_hex(16)
STAR_WARS = ["50", "172", "181"]
K = 20
EXPLORATIONS = (None, 0.5, 1.0)
"""The request's ``exploration`` for the new item's rank: the model's default, then higher."""


def percentiles(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {"n": len(values), "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def start_server(store: str, port: int, log: Path) -> subprocess.Popen:
    """``kgrec serve`` on ``port``, its log (stderr) written to ``log``: a pipe nobody reads
    would block the server once full."""
    env = {**os.environ, "KGREC_API_TOKEN": TOKEN, "PYTHONPATH": str(Path(__file__).parents[1])}
    with log.open("w") as errors:
        server = subprocess.Popen([sys.executable, "-m", "kgrec.app.cli", "serve", "--store", store, "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=errors, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"kgrec serve --store {store} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start within 10 minutes")


def whole_reload(store: str, repeats: int = 3) -> float:
    service = RecommendationService(Settings.from_env(store=store))
    try:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            service.reload()
            times.append(time.perf_counter() - started)
        return float(np.median(times))
    finally:
        service.close()


def top(client: httpx.Client, **request: object) -> list[str]:
    answer = client.post("/v1/recommend", json={"k": K, **request}).json()
    return [entry["item_id"] for entry in answer["items"]]


def event_to_recommendation(client: httpx.Client, users: list[str], trials: int) -> dict[str, object]:
    reflected, posted = [], []
    for user in users[:trials]:
        before = top(client, user_id=user)
        started = time.perf_counter()
        response = client.post("/v1/events", json={"user_id": user, "item_id": before[0], "rating": 5})
        returned = time.perf_counter()
        assert response.status_code == 200, response.text
        for _ in range(100):  # bounded: the answer must change within 100 tries
            after = top(client, user_id=user)
            if before[0] not in after and after != before:
                break
        else:
            raise SystemExit(f"an event for user {user} was never reflected")
        reflected.append(time.perf_counter() - returned)
        posted.append(returned - started)
    return {"event_to_recommend": percentiles(reflected), "post_event": percentiles(posted)}


def new_item(client: httpx.Client, run: str) -> dict[str, object]:
    item_id = f"rt-{run}-item"
    started = time.perf_counter()
    response = client.post("/v1/items", json={
        "item_id": item_id, "title": "Rebels of the Galactic Empire",
        "description": "A space opera: a farm boy joins the rebel alliance, learns the ways of the jedi knights and "
                       "fights the empire's death star with starfighters.",
        "triples": [{"relation": "IN_GENRE", "tail": g} for g in ("genre:Sci-Fi", "genre:Action", "genre:Adventure")]})
    assert response.status_code == 200, response.text
    for _ in range(100):  # servable: scored when it is the only candidate
        if top(client, liked=STAR_WARS, candidates=[item_id]) == [item_id]:
            break
    else:
        raise SystemExit("the new item never became recommendable")
    servable = time.perf_counter() - started
    ranks: dict[str, object] = {}
    for exploration in EXPLORATIONS:
        option = {} if exploration is None else {"exploration": exploration}
        ranked = top(client, liked=STAR_WARS, k=1000, **option)  # the most a request may ask for
        ranks["default" if exploration is None else str(exploration)] = ranked.index(item_id) + 1 if item_id in ranked else "> 1000"
    return {"recommendable_s": round(servable, 3), "rank_for_star_wars_fan": ranks,
            "in_top_20": {setting: isinstance(rank, int) and rank <= K for setting, rank in ranks.items()}}


def sustained(url: str, store: str, users: list[str], items: list[str], run: str, seconds: float, rate: float) -> dict[str, object]:
    """``rate`` x ``seconds`` events offered at ``rate`` while 8 clients ask for
    recommendations until the last event is answered; the rate reached is the events sent
    over the time from the start to that answer (so it falls below ``rate`` only when the
    server lags behind)."""
    before = interactions(store)
    done = threading.Event()
    accepted = sent = event_errors = 0
    lock = threading.Lock()
    latencies: list[float] = []
    recommend_errors = 0
    reasons: Counter[str] = Counter()
    senders = 2

    def sender(offset: int) -> None:
        """Like ``kgrec events --url`` on a live stream: events fall due at the rate; each
        request carries those that fell due while the previous one was answered."""
        nonlocal accepted, sent, event_errors
        total = round(seconds * rate / senders)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            n = 0
            while n < total:
                due = min(int((time.monotonic() - started) * rate / senders), total) - n
                if due <= 0:
                    time.sleep(0.01)
                    continue
                # user offset-k gets 50 distinct items: every (user, item) pair is new
                batch = [{"user_id": f"rt-{run}-{offset}-{m // 50}", "item_id": items[(m * 7 + offset) % len(items)],
                          "rating": 4} for m in range(n, n + due)]
                try:
                    response = client.post("/v1/events", json={"events": batch})
                    answer = response.json()
                    ok = len(answer["accepted"]) if response.status_code == 200 else 0
                    why = [r["reason"] for r in answer.get("rejected", [])] or [f"HTTP {response.status_code}: {answer}"[:300]]
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    ok, why = 0, [type(error).__name__]
                with lock:
                    sent += due
                    accepted += ok
                    event_errors += due - ok
                    if ok < due:
                        reasons.update(why)
                n += due

    def recommender(seed: int) -> None:
        nonlocal recommend_errors
        rng = np.random.default_rng(100 + seed)
        with httpx.Client(base_url=url, timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                try:
                    answer = client.post("/v1/recommend", json={"user_id": users[rng.integers(len(users))], "k": K}).json()
                    ok = answer["error"] is None and len(answer["items"]) == K
                except (httpx.HTTPError, ValueError, KeyError):
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - started)
                    recommend_errors += not ok

    sending = [threading.Thread(target=sender, args=(s,)) for s in range(senders)]
    asking = [threading.Thread(target=recommender, args=(c,)) for c in range(8)]
    started = time.monotonic()  # events fall due from here, for both senders
    for thread in sending + asking:
        thread.start()
    for thread in sending:
        thread.join()
    elapsed = time.monotonic() - started
    done.set()
    for thread in asking:
        thread.join()
    after = interactions(store)
    return {"seconds": round(elapsed, 1), "events_sent": sent, "events_per_s": round(sent / elapsed, 1),
            "events_accepted": accepted, "event_errors": event_errors, "event_error_reasons": dict(reasons),
            "in_store": after - before,
            "lost": accepted - (after - before), "recommend": percentiles(latencies), "recommend_errors": recommend_errors}


def interactions(store: str) -> int:
    with open_store(Settings.from_env(store=store)) as opened:
        return opened.counts().types.get("INTERACTED", 0)


def recommend_latency(client: httpx.Client, users: list[str], n: int) -> dict[str, float]:
    times = []
    for user in users[:n]:
        started = time.perf_counter()
        response = client.post("/v1/recommend", json={"user_id": user, "k": K})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return percentiles(times)


def bench(store: str, port: int, args: argparse.Namespace) -> dict[str, object]:
    run = secrets.token_hex(3)
    load = os.getloadavg()[0]
    reload_s = whole_reload(store)
    print(f"{store}: whole reload {reload_s:.2f} s (median of 3)", flush=True)
    log = Path(tempfile.gettempdir()) / f"kgrec-realtime-{store}-{run}.log"
    server = start_server(store, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
            state = client.get("/v1/health").json()
            users = [str(u) for u in np.random.default_rng(0).permutation(np.arange(1, 944))]  # ml-100k user ids
            items = [str(i) for i in range(1, 1683)]
            top(client, user_id=users[0])  # warm up
            row: dict[str, object] = {"store": store, "reload_s": round(reload_s, 3), "items": state["counts"]["items"]}
            row["recommend_c1_k20"] = recommend_latency(client, users[200:], args.requests)
            row.update(event_to_recommendation(client, users, args.trials))
            row["reload_over_event_p95"] = round(reload_s * 1000 / row["event_to_recommend"]["p95_ms"], 1)  # type: ignore[index]
            row["new_item"] = new_item(client, run)
        row["sustained"] = sustained(url, store, users[400:], items, run, args.seconds, args.rate)
        row["load_average_1min"] = f"{load:.1f} -> {os.getloadavg()[0]:.1f}"
        row["server_warnings"] = sum(line.startswith(("WARNING", "ERROR")) for line in log.read_text().splitlines())
        row["server_log"] = str(log)
        return row
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=200, help="events per second in the sustained run")
    parser.add_argument("--trials", type=int, default=40, help="events timed to the next recommendation")
    parser.add_argument("--requests", type=int, default=200, help="recommend requests timed at concurrency 1")
    parser.add_argument("--port", type=int, default=17861)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    rows = [bench(store, args.port + n, args) for n, store in enumerate(args.stores.split(","))]
    print(f"\n{'':34}" + "".join(f"{r['store']:>18}" for r in rows))
    lines = [
        ("recommend c=1 k=20 p50 / p95 ms", lambda r: f"{r['recommend_c1_k20']['p50_ms']} / {r['recommend_c1_k20']['p95_ms']}"),
        ("POST /v1/events p50 / p95 ms", lambda r: f"{r['post_event']['p50_ms']} / {r['post_event']['p95_ms']}"),
        ("event -> recommend p50 / p95 ms", lambda r: f"{r['event_to_recommend']['p50_ms']} / {r['event_to_recommend']['p95_ms']}"),
        ("whole reload s", lambda r: f"{r['reload_s']:.2f}"),
        ("reload / event->recommend p95", lambda r: f"{r['reload_over_event_p95']}x"),
        ("new item recommendable s", lambda r: f"{r['new_item']['recommendable_s']}"),
        *((f"new item rank, exploration {setting}", lambda r, setting=setting: f"{r['new_item']['rank_for_star_wars_fan'][setting]} of {r['items'] + 1}")
          for setting in ["default" if e is None else str(e) for e in EXPLORATIONS]),
        ("sustained events/s sent", lambda r: f"{r['sustained']['events_per_s']}"),
        ("sustained accepted / in store", lambda r: f"{r['sustained']['events_accepted']} / {r['sustained']['in_store']}"),
        ("sustained errors (events, recs)", lambda r: f"{r['sustained']['event_errors']}, {r['sustained']['recommend_errors']}"),
        ("sustained recommend p50 / p95 ms", lambda r: f"{r['sustained']['recommend']['p50_ms']} / {r['sustained']['recommend']['p95_ms']}"),
        ("load average, start -> end", lambda r: r["load_average_1min"]),
    ]
    for name, cell in lines:
        print(f"{name:34}" + "".join(f"{cell(r):>18}" for r in rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
