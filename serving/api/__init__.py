"""The HTTP API: one blueprint per resource, with the schemas that validate it and its errors.

- Blueprints: `auth` (`POST /token`), `users`, `products`, `activities`, `recommendations`
  (`/users/<id>/recs`, `/products/<id>/similar`), `health` (`/health`, `/ready`, `/metrics`),
  `openapi` (`/openapi.json`, `/docs`).
- `schemas`: the pydantic models of every body, query and answer; `spec`: the `endpoint`
  decorator that validates a request against them and publishes them in the OpenAPI document.
- `errors`: `ApiError` and the one handler that makes every error JSON; `pagination`: keyset
  pages and their `Link` headers; `cors`: the optional CORS headers.

A view parses, calls the library or the model holder (`serving.runtime`), and shapes JSON.
"""
