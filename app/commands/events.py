"""``kgrec events FILE.jsonl|-``: interactions as JSON lines (a file, or stdin for a pipe from
a log shipper), posted to a running server (``--url``; the token from ``KGREC_API_TOKEN``)
so that the model follows them at once, or written to the store directly without one.

Events are checked with the rules of ``interactions.csv`` (:mod:`kgrec.app.updates`) either way;
each rejected line is printed with its reason and the others are still recorded. From a
pipe, what has arrived is sent after ``--wait`` seconds without a new line, so a slow stream
is not held back until a batch fills.
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import STORE_KINDS, Settings

BATCH = 1_000
WAIT = 0.5
END = object()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("events", help="record interactions from JSON lines (a file or stdin), live or into the store")
    parser.add_argument("source", metavar="FILE.jsonl|-", help='one {"user_id", "item_id", "rating"?, "timestamp"?} per line; - for stdin')
    parser.add_argument("--url", help="a running kgrec serve, e.g. http://127.0.0.1:7860 (default: write to the store directly)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"events per request or store write (default {BATCH:,})")
    parser.add_argument("--wait", type=float, default=WAIT, help=f"seconds to wait for more lines before sending (default {WAIT})")
    parser.add_argument("--store", choices=STORE_KINDS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch < 1 or args.wait <= 0:
        raise KgrecError("--batch and --wait must be positive")
    if args.source != "-" and not Path(args.source).is_file():
        raise KgrecError(f"event file {args.source} does not exist")
    sink = _Server(args.url, settings) if args.url else _Store(settings)
    accepted = rejected = 0
    try:
        with (sys.stdin if args.source == "-" else open(args.source, encoding="utf-8", errors="replace")) as stream:
            for batch in _batches(stream, args.batch, args.wait):
                lines, events, unreadable = [], [], []
                for number, line in batch:
                    try:
                        events.append(json.loads(line))
                        lines.append(number)
                    except (json.JSONDecodeError, RecursionError) as error:
                        unreadable.append((number, None, f"not valid JSON ({getattr(error, 'msg', 'nested too deeply')})"))
                done, refused = sink.send(events)
                problems = unreadable + [(lines[i], field, message) for i, field, message in refused]
                for number, field, message in sorted(problems, key=lambda p: p[0]):
                    print(f"line {number}" + (f", field '{field}'" if field else "") + f": {message}", file=sys.stderr)
                accepted, rejected = accepted + done, rejected + len(problems)
    finally:
        sink.close()
    where = f"sent to {args.url}" if args.url else f"written to the {settings.store} store"
    print(f"{accepted:,} events {where}, {rejected:,} rejected", file=sys.stderr)
    return 1 if rejected else 0


def _batches(stream: IO[str], size: int, wait: float) -> Iterator[list[tuple[int, str]]]:
    """Numbered non-empty lines in batches of at most ``size``; a batch is also cut when no
    line arrives for ``wait`` seconds (lines are read on a thread, so a pipe never blocks it)."""
    lines: queue.Queue[object] = queue.Queue(maxsize=4 * size)

    def read() -> None:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                lines.put((number, line))
        lines.put(END)

    threading.Thread(target=read, daemon=True).start()
    batch: list[tuple[int, str]] = []
    while True:
        try:
            entry = lines.get(timeout=wait) if batch else lines.get()
        except queue.Empty:
            yield batch
            batch = []
            continue
        if entry is END:
            if batch:
                yield batch
            return
        batch.append(entry)  # type: ignore[arg-type]
        if len(batch) >= size:
            yield batch
            batch = []


Refused = list[tuple[int, "str | None", str]]
"""(position in the batch, field, message) per rejected event."""


class _Server:
    """POST /v1/events on a running server."""

    def __init__(self, url: str, settings: Settings) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.errors = (httpx.HTTPError,)

    def send(self, events: list[object]) -> tuple[int, Refused]:
        if not events:
            return 0, []
        try:
            response = self.client.post("/v1/events", json={"events": events})
        except self.errors as error:
            raise KgrecError(f"cannot reach the server at {self.url} ({error})") from None
        try:
            body = response.json()
        except ValueError:
            raise KgrecError(f"{self.url} answered {response.status_code} without JSON: is it a kgrec server?") from None
        if response.status_code not in (200, 422) or "rejected" not in body:
            raise KgrecError(f"the server refused the events ({response.status_code}): {body.get('error', body)}")
        return len(body["accepted"]), [(r["index"], r["field"], r["message"]) for r in body["rejected"]]

    def close(self) -> None:
        self.client.close()


class _Store:
    """The configured store, written directly (no model involved)."""

    def __init__(self, settings: Settings) -> None:
        from kgrec.kg.store import open_store

        self.settings = settings
        self.store = open_store(settings)

    def send(self, events: list[object]) -> tuple[int, Refused]:
        from kgrec.app.updates import check_events

        checked, rejected = check_events(events, self.store.existing_ids, self.settings.rating_range, time.time())
        refused: Refused = [(r.index, r.field, r.message) for r in rejected]
        if checked.empty:
            return 0, refused
        written = self.store.write_interactions(checked)
        refused += [(int(i), "item_id", f"item_id {item!r} is not in the store (removed meanwhile)")
                    for i, item, w in zip(checked["index"], checked["item_id"], written) if not w]
        return sum(written), refused

    def close(self) -> None:
        self.store.close()
