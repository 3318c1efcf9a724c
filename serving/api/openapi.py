"""`/openapi.json` built from the routes and their `endpoint` specs, and the `/docs` page."""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from flask import Blueprint, Flask, current_app, send_from_directory
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter, Rule

from discerner import __version__
from serving.api.schemas import Error
from serving.api.spec import Spec, endpoint

bp = Blueprint("docs", __name__, static_folder="static", static_url_path="/docs/static")

_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_REF = "#/components/schemas/{model}"
_SCHEME = "token"
_ERRORS = {
    400: "The query or body is invalid; the message says where",
    401: "Missing, malformed, expired or revoked token (at /token: wrong credentials)",
    404: "Unknown id (or not a positive integer)",
    406: "The Accept header excludes application/json",
    413: "The body is over the size limit",
    415: "The body's Content-Type is not accepted",
    429: "Too many failed logins; see Retry-After",
    503: "The store cannot write now (disk full or read-only); reads still work",
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@bp.get("/openapi.json")
@endpoint("This document (OpenAPI 3.1)", tag="operations", auth=False)
def openapi_json():
    return build_openapi(current_app)


@bp.get("/docs")
@endpoint("Human-readable API documentation", tag="operations", auth=False, produces="text/html")
def docs():
    return send_from_directory(bp.static_folder, "docs.html")


def build_openapi(app: Flask) -> dict[str, Any]:
    """Describe every route that carries an `endpoint` spec.

    Args:
        app: The app whose URL map and views are described.

    Returns:
        An OpenAPI 3.1 document as a dict.
    """
    operations: dict[str, dict[str, Any]] = {}
    models: set[type[BaseModel]] = {Error}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        spec = getattr(app.view_functions[rule.endpoint], "api_spec", None)
        if spec is None:
            continue
        models |= _models_of(spec)
        path = _PARAMETER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.setdefault(path, {})[method.lower()] = _operation(rule, spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Discerner API", "version": __version__},
        "paths": operations,
        "components": {"schemas": _schemas(models), "securitySchemes": _security()},
    }


def _security() -> dict[str, Any]:
    text = "`Authorization: Token <token>` (scheme word in any case; `Bearer` works too)."
    return {
        _SCHEME: {"type": "apiKey", "in": "header", "name": "Authorization", "description": text}
    }


def _models_of(spec: Spec) -> set[type[BaseModel]]:
    found = {model for model in (spec.query, spec.body) if model is not None}
    for _, shape in spec.responses.values():
        found |= {
            m for m in (shape, *get_args(shape)) if isinstance(m, type) and issubclass(m, BaseModel)
        }
    return found


def _schemas(models: set[type[BaseModel]]) -> dict[str, Any]:
    pairs = [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)]
    _, document = models_json_schema(pairs, ref_template=_REF)
    return document.get("$defs", {})


def _operation(rule: Rule, spec: Spec) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": rule.endpoint.replace(".", "_"),
        "tags": [spec.tag],
        "parameters": _path_parameters(rule) + _query_parameters(spec),
        "responses": _responses(rule, spec),
    }
    if spec.body is not None:
        operation["requestBody"] = _request_body(spec)
    if spec.auth:
        operation["security"] = [{_SCHEME: []}]
    return operation


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    parameters = []
    for name, converter in rule._converters.items():
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": converter.min or 0}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(spec: Spec) -> list[dict[str, Any]]:
    if spec.query is None:
        return []
    schema = spec.query.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        for name, field in schema["properties"].items()
    ]


def _request_body(spec: Spec) -> dict[str, Any]:
    reference = {"$ref": _REF.format(model=spec.body.__name__)}
    content = {"application/json": {"schema": reference}}
    if spec.form:
        content["application/x-www-form-urlencoded"] = {"schema": _form_schema(spec.body)}
    return {"required": spec.body_required, "content": content}


def _form_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's schema without `null` alternatives: a form field is absent, never null."""
    schema = model.model_json_schema(ref_template=_REF)
    for field in schema["properties"].values():
        if "anyOf" in field:
            field["anyOf"] = [option for option in field["anyOf"] if option != {"type": "null"}]
    return schema


def _responses(rule: Rule, spec: Spec) -> dict[str, Any]:
    responses = {
        str(status): _response(text, shape, spec)
        for status, (text, shape) in spec.responses.items()
    }
    for status, response in responses.items():
        if status.startswith("2") and spec.headers:
            response["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in spec.headers.items()
            }
    if not responses:
        responses["200"] = {"description": "OK", "content": {spec.produces: {"schema": {}}}}
    for status in _error_statuses(rule, spec):
        responses.setdefault(str(status), _response(_ERRORS[status], Error, spec))
    return dict(sorted(responses.items()))


def _response(text: str, shape: Any, spec: Spec) -> dict[str, Any]:
    if shape is None:
        return {"description": text}
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        schema: dict[str, Any] = {"$ref": _REF.format(model=shape.__name__)}
    elif get_origin(shape) is list:
        (item,) = get_args(shape)
        schema = {"type": "array", "items": {"$ref": _REF.format(model=item.__name__)}}
    else:
        schema = TypeAdapter(shape).json_schema()
    media = "application/json" if shape is Error else spec.produces
    return {"description": text, "content": {media: {"schema": schema}}}


def _error_statuses(rule: Rule, spec: Spec) -> list[int]:
    statuses = []
    if spec.query is not None or spec.body is not None:
        statuses.append(400)
    if spec.auth or rule.endpoint == "auth.token":  # /token: wrong username or password
        statuses.append(401)
    if rule.arguments:
        statuses.append(404)
    if spec.produces == "application/json":
        statuses.append(406)
    if spec.body is not None:
        statuses += [413, 415]
    if rule.endpoint == "auth.token":
        statuses.append(429)
    elif _WRITES & set(rule.methods or ()):
        statuses.append(503)
    return statuses
