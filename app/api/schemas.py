"""The shapes of the HTTP API's bodies, for its OpenAPI schema (``/v1/openapi.json``).

The endpoints read their bodies as plain JSON and check them one request, event or item at
a time (:mod:`kgrec.app.requests`, :mod:`kgrec.app.updates`), so that one bad entry in a batch gets its
own answer instead of failing the others; these models describe what is accepted.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Id = str | int


class RecommendRequest(BaseModel):
    """One request of the recommendation contract (as in ``kgrec recommend --batch``)."""

    model_config = ConfigDict(extra="forbid")
    id: Any = Field(None, description="echoed in the answer")
    user_id: Id | None = Field(None, description="a known user")
    liked: list[Id] | None = Field(None, description="item ids a new (or known) user liked")
    attributes: dict[str, str | int | float] | None = Field(None, examples=[{"gender": "F"}])
    text: str | None = Field(None, description="what the user wants, in words", max_length=10_000)
    k: int | None = Field(None, ge=1, le=1000, description="how many items (default 20)")
    candidates: list[Id] | None = Field(None, description="rank only these items")
    exclude: list[Id] | None = Field(None, description="never return these items")
    explain: bool | None = Field(None, description="add each item's explanation paths")


class RecommendBatch(BaseModel):
    requests: list[RecommendRequest] = Field(max_length=10_000)


class Explanation(BaseModel):
    sentence: str
    score: float
    nodes: list[dict[str, str]]
    relationships: list[dict[str, Any]]


class ScoredItem(BaseModel):
    item_id: str
    score: float
    explanations: list[Explanation] | None = None


class RecommendAnswer(BaseModel):
    id: Any = None
    items: list[ScoredItem]
    fallback: str | None = None
    error: str | None = Field(None, description="this request's error; the others are still answered")
    warnings: list[str] | None = Field(None, description="e.g. explanations left out while the store is down")


class RecommendAnswers(BaseModel):
    answers: list[RecommendAnswer]


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: Id
    user_id: Id | None = None
    liked: list[Id] | None = None
    attributes: dict[str, str | int | float] | None = None
    limit: int = Field(3, ge=1, le=20)


class ExplainAnswer(BaseModel):
    item_id: str
    explanations: list[Explanation]


class Event(BaseModel):
    """An interaction, checked like a row of ``interactions.csv``."""

    model_config = ConfigDict(extra="forbid")
    user_id: Id = Field(description="a new id creates the user")
    item_id: Id = Field(description="an item in the store")
    rating: float | str | None = Field(None, description="a finite number in the rating range (default 0..10)")
    timestamp: float | str | None = Field(None, description="unix seconds or ISO 8601; default: the time of arrival")


class EventBatch(BaseModel):
    events: list[Event]


class Triple(BaseModel):
    """A fact about the item: give ``tail`` for (item)-[relation]->(tail), ``head`` for
    (head)-[relation]->(item)."""

    model_config = ConfigDict(extra="forbid")
    relation: str = Field(examples=["IN_GENRE"])
    head: Id | None = None
    tail: Id | None = Field(None, examples=["genre:Sci-Fi"])


class NewItem(BaseModel):
    """An item in the catalog format."""

    model_config = ConfigDict(extra="forbid")
    item_id: Id | None = Field(None, description="a new id; one is made up when absent")
    title: str = Field(max_length=500)
    description: str | None = Field(None, max_length=20_000)
    properties: dict[str, str | int | float] | None = Field(None, examples=[{"year": 2024}])
    triples: list[Triple] | None = None


class ItemBatch(BaseModel):
    items: list[NewItem]


class Rejection(BaseModel):
    index: int = Field(description="position in the request, from 0")
    field: str | None
    reason: str = Field(examples=["unknown_item"])
    message: str


class AcceptedEvent(BaseModel):
    index: int
    user_id: str
    item_id: str


class EventsAnswer(BaseModel):
    accepted: list[AcceptedEvent]
    rejected: list[Rejection]


class ItemsAnswer(BaseModel):
    accepted: list[str] = Field(description="ids of the items added, in the order sent")
    rejected: list[Rejection]


class Health(BaseModel):
    status: str = Field(examples=["ok", "degraded"])
    store: dict[str, Any]
    model: dict[str, Any]
    counts: dict[str, int]


class Error(BaseModel):
    error: str
    field: str | None = None


BODIES: dict[str, list[type[BaseModel]]] = {
    "recommend": [RecommendRequest, RecommendBatch],
    "explain": [ExplainRequest],
    "events": [Event, EventBatch],
    "items": [NewItem, ItemBatch],
}
"""The accepted bodies of each POST endpoint (events and items also take a bare list)."""
LISTS = {"events": Event, "items": NewItem}
