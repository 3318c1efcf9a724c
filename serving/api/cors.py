"""CORS: off unless `DISCERNER_CORS_ORIGINS` lists the browser origins allowed to call the API."""

from __future__ import annotations

import logging

from flask import Flask, Response, request

logger = logging.getLogger(__name__)

ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type"
EXPOSED_HEADERS = "Link, Location, Retry-After, X-Model-Version, X-Total-Count"
PREFLIGHT_SECONDS = "600"


def parse_origins(setting: str) -> frozenset[str]:
    """The origins of a comma-separated setting, such as `https://app.example.com`.

    Args:
        setting: Origins separated by commas; blanks are ignored.

    Returns:
        The origins, without trailing slashes.

    Raises:
        ValueError: An entry is `*` or lacks a scheme (an allow-list must name origins).
    """
    origins = {part.strip().rstrip("/") for part in setting.split(",") if part.strip()}
    for origin in origins:
        if not origin.startswith(("http://", "https://")):
            raise ValueError(
                f"DISCERNER_CORS_ORIGINS: {origin!r} is not an origin such as"
                " https://app.example.com (a wildcard is not accepted)"
            )
    return frozenset(origins)


def register_cors(app: Flask) -> None:
    """Answer CORS requests from the configured origins only; others get no CORS headers."""
    origins = parse_origins(str(app.config.get("DISCERNER_CORS_ORIGINS", "")))
    if not origins:
        return
    logger.info("CORS allowed for %s", ", ".join(sorted(origins)))

    @app.after_request
    def _cors(response: Response) -> Response:
        response.vary.add("Origin")  # the answer depends on the Origin header: caches must know
        origin = request.headers.get("Origin")
        if origin not in origins:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_SECONDS
        return response
