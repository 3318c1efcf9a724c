"""Property-based fuzzing of every operation in /openapi.json with schemathesis, authenticated.

The budget is 25 examples per operation (about 30 s in all per store backend, embedded and
PostgreSQL); `DISCERNER_FUZZ_EXAMPLES=500` runs a deeper search by hand.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection

from serving.api.openapi import build_openapi
from serving.app import register_blueprints


def _document() -> dict:
    # The routes alone define the document (no store needed), so it exists at collection time.
    described = Flask("described")
    register_blueprints(described)
    return build_openapi(described)


DOCUMENT = _document()
# A bulk body naming a user or product that does not exist is a 400 naming the row, by
# design; no schema can say "an id that exists", so that operation may reject valid data.
# Recommendations likewise: a cursor is only one the server gave, and n + offset is bounded,
# which no schema of single parameters says; both are a 400 with a message. A merge patch is
# checked against what is stored: at most 64 attributes after the merge.
CONFIG = {
    "operations": [
        {
            "include-operation-id": "activities_create_activities",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401"]}},
        },
        *(
            {
                "include-operation-id": operation,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "404", "409"]
                    }
                },
            }
            for operation in ("users_update_user", "products_update_product")
        ),
        # An experiment's definition is checked as a whole (distinct variant names, shares
        # summing to 100, versions that exist): a 400 with a message, or 409 when one runs.
        {
            "include-operation-id": "admin_start_experiment",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "409"]}
            },
        },
        {
            "include-operation-id": "recs_recommend",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404"]}
            },
        },
    ]
}
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(name="settings", params=["embedded", "postgresql"])
def backend_settings(request):
    """Every operation is fuzzed on each store backend."""
    if request.param == "postgresql":
        return {"DISCERNER_STORE": request.getfixturevalue("postgres_store_url")()}
    return {}


@pytest.fixture
def shop(store):
    """Products 1-3 (categories a, a, b; labels 0 and 1, 0, none; product 3 hidden), users
    1-2, and two activities."""
    for category, labels in (("a", ["0", "1"]), ("a", ["0"]), ("b", None)):
        store.create_product(attributes={"category": category, "labels": labels})
    store.update_product(3, {"hidden": True})
    for _ in range(2):
        store.create_user()
    store.add_activity(1, 1, score=2.0)
    store.add_activity(2, 3)
    return store


def test_the_fuzzed_document_is_the_one_the_server_serves(client):
    assert client.get("/openapi.json").get_json() == DOCUMENT


def _closing(app):
    """The app as a WSGI callable that reads each response whole and closes it.

    The fuzzer's WSGI client never closes a response, which leaves files served by
    `send_file` open (a ResourceWarning, an error here); a real server always closes them.
    """

    def wsgi(environ, start_response):
        result = app(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            if hasattr(result, "close"):
                result.close()

    return wsgi


def _overridden(case) -> list:
    """Checks that no longer apply once the test sets the Authorization header itself.

    A negative case whose only header change was to drop or spoil the token becomes a valid
    request again when the token is put back, so it must not be expected to fail.
    """
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    return [negative_data_rejection] if header is not None and header.mode.is_negative else []


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("DISCERNER_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_operation_fails_or_breaks_its_documented_contract(case, app, token, shop):
    wsgi = _closing(app)
    case.operation.schema.app = wsgi  # the checks' own probe requests go to it too
    headers = {"Authorization": f"Token {token}"}
    case.call_and_validate(app=wsgi, headers=headers, excluded_checks=_overridden(case))
