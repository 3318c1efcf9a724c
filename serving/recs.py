"""The recommendations resource: a user's top products, never one they already have."""

from __future__ import annotations

import numpy as np
from flask import Blueprint, jsonify

from serving.errors import ApiError
from serving.schemas import Recommendation, RecsQuery
from serving.spec import endpoint
from serving.state import services

bp = Blueprint("recs", __name__)


@bp.get("/users/<id:user_id>/recs")
@endpoint(
    "Recommend products for a user, best first",
    tag="recommendations",
    query=RecsQuery,
    responses={200: ("Recommendations, best first", list[Recommendation])},
)
def recommend(user_id: int, query: RecsQuery):
    current = services()
    if not current.store.has_user(user_id):
        raise ApiError.unknown_user(user_id)
    allowed = None
    if query.category is not None:
        allowed = category_members(query.category)
    recs, version = current.models.recommend(
        user_id, query.n, exclude=query.excluded_ids(), allowed=allowed
    )
    response = jsonify(recs)
    response.headers["X-Model-Version"] = version
    return response


def category_members(category: str) -> np.ndarray:
    """The ids of live products in `category`, as an int64 array."""
    categories = services().store.product_categories()
    members = [pid for pid, value in categories.items() if value == category]
    return np.asarray(members, dtype=np.int64)
