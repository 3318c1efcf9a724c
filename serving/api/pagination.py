"""Keyset pagination of list endpoints: bare JSON arrays, `Link: rel="next"`, `X-Total-Count`."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from flask import Response, jsonify, request

from serving.api.schemas import PageQuery


def page(
    fetch: Callable[..., list[dict]], query: PageQuery, total: int | None, **filters
) -> Response:
    """Answer one page of a list, ascending by id.

    Args:
        fetch: The store's list method, called as `fetch(after=, limit=, **filters)`.
        query: The validated `limit` and `after`.
        total: How many items the whole list holds (`X-Total-Count`); None leaves it out.
        **filters: Extra arguments for `fetch` (already validated).

    Returns:
        A JSON array response; when more items remain, a `Link` header names the next page.
    """
    # One extra row says whether another page exists without a second query.
    rows = fetch(after=query.after, limit=query.limit + 1, **filters)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    response = jsonify(rows)
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
    if more:
        response.headers["Link"] = f'<{next_url(after=str(rows[-1]["id"]))}>; rel="next"'
    return response


def next_url(**changes: str | None) -> str:
    """The current path (a relative URL) with some arguments changed (None: removed).

    Never an absolute URL: its host would come from the request's `Host` header, which the
    client chooses, and a client following the link would send its token there.
    """
    args = request.args.to_dict() | changes
    kept = {name: value for name, value in args.items() if value is not None}
    return f"{request.script_root}{request.path}?{urlencode(kept)}"
