"""The API's one error type, `ApiError`, and the handlers that turn every error into JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from discerner.errors import (
    DataFormatError,
    StoreCorruptError,
    StoreError,
    UnknownProductError,
    UnknownUserError,
)

logger = logging.getLogger(__name__)

# Headers of an HTTPException's own response worth keeping on the JSON version.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiError(Exception):
    """An error the API reports to the client as `{"error": {"status", "message"}}`.

    Args:
        status: The HTTP status code.
        message: A sentence for a person; never a stack trace.
        headers: Extra response headers (`Retry-After` for 429).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        """400: the request is malformed or fails validation."""
        return cls(400, message)

    @classmethod
    def unauthorized(cls, message: str = "authentication required") -> ApiError:
        """401: no valid token, or wrong credentials."""
        return cls(401, message, {"WWW-Authenticate": 'Token realm="discerner"'})

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        """404 with a message saying what was not found."""
        return cls(404, message)

    @classmethod
    def unknown_user(cls, user_id: object) -> ApiError:
        """404: the user does not exist."""
        return cls(404, f"unknown user {user_id}")

    @classmethod
    def unknown_product(cls, product_id: object) -> ApiError:
        """404: the product does not exist."""
        return cls(404, f"unknown product {product_id}")

    @classmethod
    def not_acceptable(cls) -> ApiError:
        """406: the client's Accept header excludes JSON."""
        return cls(406, "this resource is only available as application/json")

    @classmethod
    def conflict(cls, message: str) -> ApiError:
        """409: the request clashes with existing data (a taken external_id)."""
        return cls(409, message)

    @classmethod
    def unsupported_media_type(cls, expected: str) -> ApiError:
        """415: the body's Content-Type is not one the endpoint reads."""
        return cls(415, f"the request body must be {expected}")

    @classmethod
    def too_many_requests(cls, retry_after: int) -> ApiError:
        """429: too many failed logins; retry after `retry_after` seconds."""
        message = f"too many failed logins; retry in {retry_after} s"
        return cls(429, message, {"Retry-After": str(retry_after)})

    @classmethod
    def unavailable(cls, message: str) -> ApiError:
        """503: the service cannot answer now (store closed, shutting down)."""
        return cls(503, message)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Build the API's JSON error response."""
    response = jsonify(error={"status": status, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def register_errorhandlers(app: Flask) -> None:
    """Make every error, expected or not, a JSON response; never HTML, never a traceback."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(UnknownUserError, lambda e: _handle_api_error(_unknown(e)))
    app.register_error_handler(UnknownProductError, lambda e: _handle_api_error(_unknown(e)))
    app.register_error_handler(DataFormatError, lambda e: error_response(400, str(e)))
    app.register_error_handler(StoreError, _handle_store_error)
    app.register_error_handler(Exception, _handle_unexpected)


def _unknown(error: UnknownUserError | UnknownProductError) -> ApiError:
    return ApiError.not_found(str(error))


def _handle_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.message, error.headers)


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    own = error.get_response().headers
    kept = {name: own[name] for name in _KEPT_HEADERS if name in own}
    return error_response(status, _http_message(error), kept)


def _http_message(error: HTTPException) -> str:
    """Say what was not found or not allowed, instead of Werkzeug's generic English."""
    # Only the routing errors: a view's own `NotFound("...")` already says what it means.
    if type(error) is NotFound and error.description == NotFound.description:
        return f"no such endpoint: {request.method} {_shown(request.path)}"
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(error.valid_methods or ()))
        return f"{_shown(request.path)} does not accept {request.method}; it accepts {allowed}"
    return _first_sentence(error.description)


def _handle_store_error(error: StoreError) -> Response:
    """503: the store refuses writes (its disk is full or read-only, or it is closing).

    The log line names the file; the client's message says why without naming server paths.
    """
    if isinstance(error, StoreCorruptError):
        return _handle_unexpected(error)
    logger.error("store refused a write: %s (%s)", error, error.__cause__ or "no cause")
    reason = getattr(error.__cause__, "strerror", None)
    message = "the data store cannot accept writes now"
    if reason:  # the disk failed: say how, and that the data already stored is still served
        message += f" ({reason}); reads still work"
    return error_response(503, message)


def _handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error: %s", type(error).__name__)
    return error_response(500, "internal server error; the server log has the details")


def _shown(path: str, limit: int = 200) -> str:
    return path if len(path) <= limit else path[:limit] + "…"


def _first_sentence(description: str | None) -> str:
    text = (description or "").strip()
    return text.split(". ")[0].rstrip(".") if text else "error"
