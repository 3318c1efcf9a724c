"""The users resource: list, create, read, change and delete users."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, url_for

from discerner.errors import DuplicateExternalIdError
from serving.api.errors import ApiError
from serving.api.pagination import page
from serving.api.schemas import (
    Created,
    Entity,
    EntityCreate,
    EntityPatch,
    PageQuery,
    UserCreate,
    UserPatch,
)
from serving.api.spec import endpoint
from serving.runtime.state import services

bp = Blueprint("users", __name__)


@bp.get("/users")
@endpoint(
    "List users, ascending by id (keyset pagination)",
    tag="users",
    query=PageQuery,
    responses={200: ("A page of users", list[Entity])},
)
def list_users(query: PageQuery):
    store = services().store
    return page(store.list_users, query, store.count_users())


@bp.post("/users")
@endpoint(
    "Create a user; the optional JSON body may carry external_id and attributes",
    tag="users",
    body=UserCreate,
    body_required=False,
    responses={201: ("The new user's id", Created), 409: ("external_id is taken", None)},
)
def create_user(body: UserCreate):
    user = create_entity(services().store.create_user, body)
    location = url_for("users.get_user", user_id=user["id"])
    return {"id": user["id"]}, 201, {"Location": location}


@bp.get("/users/<id:user_id>")
@endpoint("Read a user", tag="users", responses={200: ("The user", Entity)})
def get_user(user_id: int):
    user = services().store.get_user(user_id)
    if user is None:
        raise ApiError.unknown_user(user_id)
    return user


@bp.patch("/users/<id:user_id>")
@endpoint(
    "Change a user: a JSON merge patch of external_id and attributes (null removes one)",
    tag="users",
    body=UserPatch,
    responses={200: ("The changed user", Entity), 409: ("external_id is taken", None)},
)
def update_user(user_id: int, body: UserPatch):
    user = update_entity(services().store.update_user, user_id, body)
    if user is None:
        raise ApiError.unknown_user(user_id)
    return user


@bp.delete("/users/<id:user_id>")
@endpoint(
    "Delete a user and their activities",
    tag="users",
    responses={204: ("Deleted", None)},
)
def delete_user(user_id: int):
    if not services().store.delete_user(user_id):
        raise ApiError.unknown_user(user_id)
    return "", 204


def create_entity(create: Callable[..., dict], body: EntityCreate) -> dict:
    """Call the store's `create_user`/`create_product`; a taken external_id becomes 409."""
    try:
        return create(external_id=body.external_id, attributes=body.attributes() or None)
    except DuplicateExternalIdError as error:
        raise ApiError.conflict(str(error)) from None
    except ValueError as error:  # a value the store refuses that the schema let through
        raise ApiError.bad_request(str(error)) from None


def update_entity(
    update: Callable[[int, dict], dict | None], entity_id: int, body: EntityPatch
) -> dict | None:
    """Call the store's `update_user`/`update_product`: a taken external_id is 409, a value
    the store refuses 400; None for an unknown id."""
    try:
        return update(entity_id, body.changes())
    except DuplicateExternalIdError as error:
        raise ApiError.conflict(str(error)) from None
    except ValueError as error:
        raise ApiError.bad_request(str(error)) from None
