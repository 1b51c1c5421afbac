"""``kgrec serve``: the HTTP API (``/v1``) and the Gradio app (``/``) over one recommendation service."""
from __future__ import annotations

import argparse
from pathlib import Path

from kg.errors import KgrecError
from kg.settings import STORE_KINDS, Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="serve explained recommendations in a web app (Gradio)")
    add_server_arguments(parser)
    parser.add_argument("--model", type=Path, help="model folder (default: KGREC_HOME/models/default)")
    parser.add_argument("--store", choices=STORE_KINDS, help="default: neo4j when KGREC_NEO4J_URI is set, else embedded")
    parser.set_defaults(handler=run)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")


def run(args: argparse.Namespace, settings: Settings) -> int:
    serve(settings, args.model, args.host, args.port)
    return 0


def serve(settings: Settings, model: Path | None, host: str, port: int) -> None:
    """Load the service once, build the app over it and serve until interrupted."""
    if not 1 <= port <= 65535:
        raise KgrecError(f"--port must be between 1 and 65535, got {port}")
    from app.api.server import create_app
    from app.api.server import serve as serve_http
    from app.service import RecommendationService

    print(f"loading the model and the {settings.store} store ...", flush=True)
    service = RecommendationService(settings, model, progress=True)
    try:
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
