"""The recommendations resource: a user's top products, never one they already have."""

from __future__ import annotations

from flask import Blueprint, jsonify

from serving.api.errors import ApiError
from serving.api.schemas import Recommendation, RecsQuery, SimilarQuery
from serving.api.spec import endpoint
from serving.runtime.state import services

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
        allowed = current.models.category_members(query.category)
    recs, version = current.models.recommend(
        user_id, query.n, exclude=query.excluded_ids(), allowed=allowed
    )
    response = jsonify(recs)
    response.headers["X-Model-Version"] = version
    return response


@bp.get("/products/<id:product_id>/similar")
@endpoint(
    "Products most similar to a product, by the served model (empty for unseen products)",
    tag="recommendations",
    query=SimilarQuery,
    responses={200: ("Similar products, most similar first", list[Recommendation])},
)
def similar(product_id: int, query: SimilarQuery):
    current = services()
    if not current.store.has_product(product_id):
        raise ApiError.unknown_product(product_id)
    found, version = current.models.similar(product_id, query.n)
    response = jsonify(found)
    response.headers["X-Model-Version"] = version
    return response
