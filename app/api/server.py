"""One ASGI app for ``kgrec serve``: the HTTP API under ``/v1`` and the Gradio page at ``/``,
over the same service, served by uvicorn.

Every ``/v1`` request passes :class:`ApiGate` first: bodies over ``MAX_BODY`` bytes are
answered 413 before they are parsed, and each request is counted and timed for
``/v1/metrics``. Every error is a JSON object ``{"error": "...", "field": ...}`` with a 4xx
status (5xx only when the store is down, 503, or for a bug, 500, logged on the server):
never a stack trace.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException

from kgrec.app.api import routes, schemas
from kgrec.app.api.metrics import ApiMetrics
from kgrec.app.service import RecommendationService
from kgrec.kg.errors import AccessDenied, KgrecError, StoreError
from kgrec.kg.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
"""Bytes in one request body (413 beyond)."""
ENDPOINTS = frozenset(f"/v1/{name}" for name in ("recommend", "explain", "events", "items", "health", "metrics", "openapi.json"))
API_VERSION = "1"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ApiGate:
    """ASGI middleware for ``/v1``: the body size limit and the request metrics."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], metrics: ApiMetrics,
                 limit: int = MAX_BODY) -> None:
        self.app, self.metrics, self.limit = app, metrics, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            body = await self._body(scope, receive)
            if body is None:
                await _send_json(sending, 413, {"error": f"the body is larger than the limit of {self.limit:,} bytes",
                                                "field": None})
                return
            delivered = False

            async def replay() -> Message:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, sending)
        finally:
            endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
            self.metrics.observe(endpoint, status, time.perf_counter() - started)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is over the limit."""
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


def create_app(service: RecommendationService, ui: bool = True, settings: Settings | None = None) -> FastAPI:
    """The API over ``service``, with the Gradio page mounted at ``/`` when ``ui``; who may
    read and write comes from ``settings`` (default: the service's)."""
    api = FastAPI(title="kgrec", version=API_VERSION, openapi_url="/v1/openapi.json", docs_url="/v1/docs",
                  redoc_url=None, description="Explained recommendations from a knowledge graph; see docs/API.md.")
    api.state.service = service
    api.state.settings = settings or service.settings
    api.state.metrics = ApiMetrics(service)
    api.include_router(routes.router)
    _handle_errors(api)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    if ui:
        from kgrec.app.ui.actions import UiActions
        from kgrec.app.ui.layout import build_app, mount

        mount(build_app(UiActions(service)), api)
    api.add_middleware(ApiGate, metrics=api.state.metrics)
    return api


def _handle_errors(api: FastAPI) -> None:
    def error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def unreadable(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        location = [str(part) for part in first.get("loc", ())]
        if first.get("type") == "json_invalid":
            detail = (first.get("ctx") or {}).get("error", "")
            at = location[1] if len(location) > 1 else "?"
            return error(422, f"the body is not valid JSON ({detail} at character {at})", "body")
        if first.get("type") == "missing" and location == ["body"]:
            return error(422, "the request needs a JSON body", "body")
        return error(422, f"{'.'.join(location[1:]) or 'body'}: {first.get('msg', 'cannot be read')}",
                     ".".join(location[1:]) or "body")

    @api.exception_handler(routes.BadBody)
    async def bad_body(_: Request, exc: routes.BadBody) -> JSONResponse:
        return error(422, str(exc), exc.field)

    @api.exception_handler(AccessDenied)
    async def denied(_: Request, exc: AccessDenied) -> JSONResponse:
        return error(exc.status, str(exc), headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    @api.exception_handler(StoreError)
    async def store_down(_: Request, exc: StoreError) -> JSONResponse:
        return error(503, f"{exc}; nothing was changed")

    @api.exception_handler(KgrecError)
    async def refused(_: Request, exc: KgrecError) -> JSONResponse:
        return error(400, str(exc))

    @api.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), headers=exc.headers)

    @api.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, "internal error; the server logged it")


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the body models the endpoints read as plain JSON."""
    if api.openapi_schema:
        return api.openapi_schema
    schema = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
    models = {m for ms in schemas.BODIES.values() for m in ms}
    _, definitions = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                        ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
    api.openapi_schema = schema
    return schema


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn; Ctrl-C stops)."""
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
