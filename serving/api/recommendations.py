"""The recommendations resource: a user's top products, never one they already have."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from serving.api.errors import ApiError
from serving.api.pagination import next_url
from serving.api.schemas import MAX_RANKING, Cursor, Recommendation, RecsQuery, SimilarQuery
from serving.api.spec import endpoint
from serving.runtime.model_holder import Page
from serving.runtime.state import services

RECS_HEADERS = {
    "X-Model-Version": "The model that answered (`name/version`, or `popularity`).",
    "X-Experiment": "The running A/B experiment the answer belongs to (absent without one).",
    "X-Variant": "The user's variant of that experiment (the same for a user all along).",
    "X-Request-Id": "Names the answer's impression in the experiment's log (with X-Experiment).",
    "X-Next-Cursor": "Present when the ranking goes on: pass it as `cursor` for the next page.",
    "Link": 'The next page as a relative URL with `rel="next"` (the same arguments and the '
    "cursor), when the ranking goes on.",
    "X-Ranking-Restarted": "`true` when the cursor's ranking no longer exists (the user's "
    "history, the model or the feedback configuration changed): this is the first page of the "
    "new ranking.",
}

bp = Blueprint("recs", __name__)


@bp.get("/users/<id:user_id>/recs")
@endpoint(
    "Recommend products for a user, best first",
    tag="recommendations",
    query=RecsQuery,
    responses={200: ("Recommendations, best first", list[Recommendation])},
    headers=RECS_HEADERS,
)
def recommend(user_id: int, query: RecsQuery):
    current = services()
    if not current.store.has_user(user_id):
        raise ApiError.unknown_user(user_id)
    filters = query.filters()
    resumed = query.resumed()
    routed = current.experiments.route(user_id) if current.experiments else None
    models = routed.models if routed is not None else current.models
    page = models.recommend(user_id, query.n, query.start(), filters, query.explain)
    restarted = resumed is not None and (resumed.history, resumed.ranking) != (
        page.history_version,
        page.ranking,
    )
    if restarted:  # the history, model or feedback changed: the new ranking, from its top
        page = models.recommend(user_id, query.n, 0, filters, query.explain)
    response = jsonify(page.picks)
    response.headers["X-Model-Version"] = page.version
    if routed is not None:
        response.headers["X-Experiment"] = routed.experiment.name
        response.headers["X-Variant"] = routed.variant.name
        response.headers["X-Request-Id"] = current.experiments.record(routed, user_id, page)
    if restarted:
        response.headers["X-Ranking-Restarted"] = "true"
    _link_next(response, page, 0 if restarted else query.start(), query.n)
    return response


def _link_next(response: Response, page: Page, start: int, n: int) -> None:
    """Name the next page (`X-Next-Cursor`, `Link: rel="next"`) when the ranking goes on."""
    offset = start + n
    if not page.more or offset >= MAX_RANKING:
        return
    cursor = Cursor(offset=offset, history=page.history_version, ranking=page.ranking).encode()
    url = next_url(offset=None, n=str(min(n, MAX_RANKING - offset)), cursor=cursor)
    response.headers["X-Next-Cursor"] = cursor
    response.headers["Link"] = f'<{url}>; rel="next"'


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
