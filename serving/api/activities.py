"""The activities resource: a user did something with a product, with a score."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint

from serving.api.errors import ApiError
from serving.api.pagination import page
from serving.api.schemas import Activity, ActivityBatch, ActivityCreate, ActivityQuery, PageQuery
from serving.api.spec import endpoint
from serving.runtime.state import services

bp = Blueprint("activities", __name__)


@bp.get("/activities")
@endpoint(
    "List activities, ascending by id; filter by user_id, product_id or type",
    tag="activities",
    query=ActivityQuery,
    responses={200: ("A page of activities", list[Activity])},
)
def list_activities(query: ActivityQuery):
    store = services().store
    filters = {"user_id": query.user_id, "product_id": query.product_id, "type": query.type}
    total = store.count_activities() if set(filters.values()) == {None} else None
    return page(store.list_activities, query, total, **filters)


@bp.get("/users/<id:user_id>/activities")
@endpoint(
    "List one user's activities, ascending by id",
    tag="activities",
    query=PageQuery,
    responses={200: ("A page of the user's activities", list[Activity])},
)
def list_user_activities(user_id: int, query: PageQuery):
    store = services().store
    if not store.has_user(user_id):
        raise ApiError.unknown_user(user_id)
    total = len(store.user_history(user_id)[0])
    return page(store.list_activities, query, total, user_id=user_id)


@bp.post("/users/<id:user_id>/products/<id:product_id>/activities")
@endpoint(
    "Record an activity; score (default 1.0), timestamp and type (default score) as JSON or"
    " form fields",
    tag="activities",
    body=ActivityCreate,
    form=True,
    body_required=False,
    responses={201: ("The stored activity", Activity)},
)
def create_activity(user_id: int, product_id: int, body: ActivityCreate):
    with refused_values():
        activity = services().store.add_activity(
            user_id, product_id, score=body.score, timestamp=body.timestamp, type=body.type
        )
    return activity, 201


@bp.post("/activities")
@endpoint(
    "Record up to 10,000 activities at once: all are stored or none",
    tag="activities",
    body=ActivityBatch,
    responses={201: ("The stored activities, in order", list[Activity])},
)
def create_activities(body: ActivityBatch):
    rows = [item.model_dump() for item in body.root]
    check_references(rows)
    with refused_values():
        return services().store.add_activities(rows), 201


@contextmanager
def refused_values() -> Iterator[None]:
    """A value the store refuses that the schema let through is the client's error (400)."""
    try:
        yield
    except ValueError as error:
        raise ApiError.bad_request(str(error)) from None


def check_references(rows: list[dict]) -> None:
    """Name the first row whose user or product does not exist (400), before storing any."""
    store = services().store
    for position, row in enumerate(rows):
        if not store.has_user(row["user_id"]):
            raise ApiError.bad_request(f"[{position}].user_id: unknown user {row['user_id']}")
        if not store.has_product(row["product_id"]):
            message = f"[{position}].product_id: unknown product {row['product_id']}"
            raise ApiError.bad_request(message)
