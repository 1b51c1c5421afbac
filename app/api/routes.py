"""The HTTP API's endpoints, under ``/v1``: JSON in, JSON out, over one
:class:`~kgrec.app.service.RecommendationService`.

Reads (recommend, explain, health, metrics) need the read token when ``KGREC_READ_TOKEN``
is set; writes (events, items) need ``KGREC_API_TOKEN`` when it is set and are refused in
read-only mode (``kgrec.app.auth``). The handlers are plain functions: FastAPI runs them on its
thread pool, so a slow one never holds up the others.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kgrec.app.api import schemas
from kgrec.app.api.metrics import ApiMetrics
from kgrec.app.auth import authorize
from kgrec.app.requests import RequestError
from kgrec.app.service import RecommendationService
from kgrec.kg.errors import AccessDenied

MAX_BATCH = 10_000
"""Requests in one /v1/recommend call."""
MAX_CHANGES = 100_000
"""Events or items in one call (the 10 MB body limit usually comes first)."""

bearer = HTTPBearer(auto_error=False, description="KGREC_API_TOKEN for writes; KGREC_READ_TOKEN (or the API token) for reads when set")
router = APIRouter(prefix="/v1")


class BadBody(ValueError):
    """A body the endpoint cannot read: answered 422 with the field."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def _service(request: Request) -> RecommendationService:
    return request.app.state.service


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None, write: bool) -> None:
    if request.headers.get("authorization") and credentials is None:
        raise AccessDenied("the Authorization header must be 'Bearer <token>'", status=401)
    authorize(request.app.state.settings, credentials.credentials if credentials else None, write=write)


def reader(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    _check(request, credentials, write=False)


def writer(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    _check(request, credentials, write=True)


def _body(name: str) -> dict[str, Any]:
    """OpenAPI text for a body read as plain JSON (see :data:`schemas.BODIES`)."""
    shapes = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in schemas.BODIES[name]]
    if name in schemas.LISTS:
        shapes.append({"type": "array", "items": {"$ref": f"#/components/schemas/{schemas.LISTS[name].__name__}"}})
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"anyOf": shapes}}}}}


ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": schemas.Error, "description": text} for status, text in (
    (401, "missing or wrong token"), (403, "read-only server"), (413, "body over the size limit"),
    (422, "a body or field that cannot be read"), (503, "the graph store is unreachable"))}


def _entries(payload: object, key: str, limit: int) -> tuple[list[object], bool]:
    """A body of one entry, a list, or ``{key: [...]}``, as a list; and whether it was one."""
    if isinstance(payload, dict) and key in payload:
        if set(payload) != {key}:
            raise BadBody(sorted(set(payload) - {key})[0], f"a batch body has only the field {key!r}")
        payload = payload[key]
        if not isinstance(payload, list):
            raise BadBody(key, f"{key} must be a list, got {type(payload).__name__}")
    elif not isinstance(payload, (dict, list)):
        raise BadBody(None, f"the body must be a JSON object or a list of them, got {type(payload).__name__}")
    entries = payload if isinstance(payload, list) else [payload]
    if len(entries) > limit:
        raise BadBody(key, f"at most {limit:,} entries per request, got {len(entries):,}")
    return entries, not isinstance(payload, list)


@router.post("/recommend", dependencies=[Depends(reader)], openapi_extra=_body("recommend"),
             responses={200: {"model": schemas.RecommendAnswer | schemas.RecommendAnswers}, **ERRORS})
def recommend(request: Request, payload: Any = Body(...)) -> dict[str, object]:
    """Top K for one request of the contract, or ``{"requests": [...]}``: the answers of
    ``kgrec recommend --batch``, one per request, in order (a bad request gets its own
    ``error`` and the others are answered)."""
    requests, single = _entries(payload, "requests", MAX_BATCH)
    answers = _service(request).recommend(requests)
    return answers[0] if single else {"answers": answers}


@router.post("/explain", dependencies=[Depends(reader)], openapi_extra=_body("explain"),
             responses={200: {"model": schemas.ExplainAnswer}, **ERRORS})
def explain(request: Request, payload: Any = Body(...)) -> dict[str, object]:
    """The graph paths that explain ``item_id`` for a known user or a new one."""
    if not isinstance(payload, dict):
        raise BadBody(None, "the body must be a JSON object")
    fields = dict(payload)
    item_id, limit = fields.pop("item_id", None), fields.pop("limit", 3)
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
        raise BadBody("item_id", "item_id must be a string or an integer")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 20:
        raise BadBody("limit", "limit must be an integer from 1 to 20")
    if set(fields) - {"user_id", "liked", "attributes"}:
        raise BadBody(sorted(set(fields) - {"user_id", "liked", "attributes"})[0],
                      "explain takes item_id, user_id, liked, attributes and limit")
    try:
        explanations = _service(request).explain_item(fields, str(item_id), limit=limit)
    except RequestError as error:
        raise BadBody(_named_field(str(error)), str(error)) from None
    return {"item_id": str(item_id), "explanations": explanations}


@router.post("/events", dependencies=[Depends(writer)], openapi_extra=_body("events"),
             responses={200: {"model": schemas.EventsAnswer}, **ERRORS})
def events(request: Request, payload: Any = Body(...)) -> Response:
    """Interactions: each valid one is written to the store and applied to the model before
    the answer; each invalid one is rejected with its reason and changes nothing. 422 when
    none was accepted."""
    entries, _ = _entries(payload, "events", MAX_CHANGES)
    outcome = _service(request).record_events(entries)
    body = {"accepted": outcome.accepted, "rejected": [r.to_dict() for r in outcome.rejected]}
    return _changes(body, bool(outcome.accepted) or not entries)


@router.post("/items", dependencies=[Depends(writer)], openapi_extra=_body("items"),
             responses={200: {"model": schemas.ItemsAnswer}, **ERRORS})
def items(request: Request, payload: Any = Body(...)) -> Response:
    """New items in the catalog format, written to the store and recommendable at once."""
    entries, _ = _entries(payload, "items", MAX_CHANGES)
    outcome = _service(request).add_items(entries)
    body = {"accepted": outcome.accepted, "rejected": [r.to_dict() for r in outcome.rejected]}
    return _changes(body, bool(outcome.accepted) or not entries)


@router.get("/health", dependencies=[Depends(reader)], responses={200: {"model": schemas.Health}, **ERRORS})
def health(request: Request) -> dict[str, object]:
    """Whether the store answers (``status: degraded`` when it does not: recommendations are
    still served), the model, and counts."""
    return _service(request).health()


@router.get("/metrics", dependencies=[Depends(reader)], response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    """Request counts and latency histograms per endpoint, events applied, store errors."""
    exported: ApiMetrics = request.app.state.metrics
    return Response(exported.render(), media_type=exported.content_type)


def _changes(body: dict[str, object], ok: bool) -> Response:
    """200 when anything was accepted (or nothing sent), else 422 naming the first refusal."""
    if ok:
        return JSONResponse(body)
    first = body["rejected"][0]  # type: ignore[index]
    return JSONResponse({"error": first["message"], "field": first["field"], **body}, status_code=422)


def _named_field(message: str) -> str | None:
    for field in ("user_id", "liked", "attributes", "item"):
        if field in message:
            return "item_id" if field == "item" else field
    return None
