"""``kgrec serve``: the HTTP API (``/v1``) and the Gradio app (``/``) over one recommendation service."""
from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from kgrec.app.auth import writes_protected
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import STORE_KINDS, Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
SERVING_TORCH_THREADS = 1
"""torch's intra-op threads once the model is loaded. A server answers many small requests on
threads of its own; an OpenMP pool under each one only adds waiting: on a busy machine a
request waits for the slowest of its pool's threads to be scheduled (with the default pool,
an event's fold-in and the next recommendation took 250-400 ms at p95 under load 11, with one
thread 1-5 ms; BENCHMARKS.md, real time)."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve")
    add_server_arguments(parser)
    parser.add_argument("--model", type=Path, help="model folder (default: KGREC_HOME/models/default)")
    parser.add_argument("--store", choices=STORE_KINDS, help="default: neo4j when KGREC_NEO4J_URI is set, else embedded")
    parser.set_defaults(handler=run)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="refuse every write (uploads, add item); also KGREC_READ_ONLY=1")


def run(args: argparse.Namespace, settings: Settings) -> int:
    serve(server_settings(args, settings), args.model, args.host, args.port)
    return 0


def server_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings a server runs with (``--read-only`` applied), checked against its
    ``--host`` before anything slow starts."""
    if args.read_only:
        settings = settings.with_(read_only=True)
    check_listen(settings, args.host)
    return settings


def check_listen(settings: Settings, host: str) -> None:
    """Refuse to listen beyond this machine when anonymous visitors could write."""
    if not _loopback(host) and not writes_protected(settings):
        raise KgrecError(f"refusing to listen on {host} without KGREC_API_TOKEN: anyone who reaches the app "
                         "could rewrite the catalog, so set KGREC_API_TOKEN (and KGREC_READ_TOKEN to protect "
                         "reads) or serve --read-only")


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


def serve(settings: Settings, model: Path | None, host: str, port: int) -> None:
    """Load the service once, build the app over it and serve until interrupted."""
    if not 1 <= port <= 65535:
        raise KgrecError(f"--port must be between 1 and 65535, got {port}")
    check_listen(settings, host)
    from kgrec.app.api.server import create_app
    from kgrec.app.api.server import serve as serve_http
    from kgrec.app.service import RecommendationService

    print(f"loading the model and the {settings.store} store ...", flush=True)
    service = RecommendationService(settings, model, progress=True)
    try:
        service.encoder.load()  # new items and free text are embedded at once, not after a model load
        import torch

        torch.set_num_threads(SERVING_TORCH_THREADS)
        app = create_app(service)
        print(f"serving {len(service.item_ids):,} items at http://{host}:{port} (the API: http://{host}:{port}/v1/; "
              "Ctrl-C stops)", flush=True)
        try:
            serve_http(app, host, port)
        except (OSError, SystemExit):  # uvicorn exits when it cannot bind
            raise KgrecError(f"cannot listen on {host}:{port}: the port is in use or not allowed; "
                             "choose another --port") from None
    finally:
        service.close()
