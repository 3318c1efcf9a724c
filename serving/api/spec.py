"""`endpoint`: one decorator that validates a view's input and describes it for OpenAPI.

A view's query and body models are the ones that validate its requests and the ones
`serving.api.openapi` publishes, so the document cannot drift from what the server does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError

from serving.api.errors import ApiError
from serving.api.schemas import error_message
from serving.runtime.tokens import require_token

JSON = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Spec:
    """What a view takes and returns; read by the decorator and by the OpenAPI builder."""

    summary: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    form: bool = False
    body_required: bool = True
    responses: dict[int, tuple[str, Any]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True
    produces: str = JSON


def endpoint(summary: str, **options: Any) -> Callable[[Callable], Callable]:
    """Decorate a view: check Accept and the token, parse query and body into models.

    The view receives the parsed models as keyword arguments `query` and `body`.

    Args:
        summary: One line for the OpenAPI document.
        **options: The other `Spec` fields: `tag`, `query`, `body`, `form` (the body may also
            be form fields), `body_required`, `responses` ({status: (description, model)}),
            `headers` ({name: description} of the success responses' headers), `auth`
            (default True) and `produces` (default application/json).

    Returns:
        The decorator.
    """
    spec = Spec(summary=summary, **options)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            if spec.produces == JSON:
                _check_accept()
            if spec.auth:
                require_token()
            if spec.query is not None:
                kwargs["query"] = _validate(spec.query, request.args.to_dict())
            if spec.body is not None:
                kwargs["body"] = _parse_body(spec)
            return view(**kwargs)

        wrapper.api_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _check_accept() -> None:
    accept = request.accept_mimetypes
    if accept.provided and not accept.accept_json:
        raise ApiError.not_acceptable()


def _validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError.bad_request(error_message(error)) from None


def _parse_body(spec: Spec) -> BaseModel:
    assert spec.body is not None
    raw = request.get_data(cache=True)
    if not raw:
        if spec.body_required:
            raise ApiError.bad_request("a request body is required")
        return _validate(spec.body, {})
    mimetype = request.mimetype
    if mimetype == JSON or mimetype.endswith("+json"):
        try:
            # JSON is typed: "4" is not the number the document promises (strict). Form
            # fields below are text by nature, so there "4" is read as 4.
            return spec.body.model_validate_json(raw, strict=True)
        except ValidationError as error:
            raise ApiError.bad_request(error_message(error)) from None
    if spec.form and mimetype in FORM_TYPES:
        return _validate(spec.body, request.form.to_dict())
    expected = "JSON or form fields" if spec.form else JSON
    raise ApiError.unsupported_media_type(expected)
