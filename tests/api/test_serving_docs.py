"""/openapi.json describes every route from the validating schemas; /docs works offline."""

from __future__ import annotations

import re

import pytest

from serving.api.openapi import build_openapi


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _documented(document):
    return {(path, method) for path, item in document["paths"].items() for method in item}


def test_every_route_is_documented(app, document):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == _documented(document)
    assert ("/users/{user_id}/products/{product_id}/activities", "post") in routes


def test_it_is_openapi_3_with_resolvable_references(document):
    assert document["openapi"].startswith("3.")
    text = str(document)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in document["components"]["schemas"], name


def test_bulk_body_limits_come_from_the_validating_schema(document):
    body = document["paths"]["/activities"]["post"]["requestBody"]
    assert body["required"] is True
    batch = document["components"]["schemas"]["ActivityBatch"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 10_000)


def test_query_parameters_and_their_bounds(document):
    parameters = document["paths"]["/users/{user_id}/recs"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters}
    assert by_name["user_id"]["in"] == "path"
    assert by_name["user_id"]["schema"] == {"type": "integer", "minimum": 1}
    assert by_name["n"]["schema"]["maximum"] == 1000
    assert by_name["n"]["schema"]["minimum"] == 1


def test_auth_and_errors_are_described(document):
    users = document["paths"]["/users"]["get"]
    assert users["security"] == [{"token": []}]
    assert {"200", "400", "401", "406"} <= set(users["responses"])
    token = document["paths"]["/token"]["post"]
    assert "security" not in token
    assert "429" in token["responses"]
    assert set(token["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }


def test_the_document_is_the_same_object_the_app_builds(app, document):
    assert document == build_openapi(app)


def test_docs_page_and_its_assets_are_served_locally(client):
    with client.get("/docs", headers={"Accept": "text/html"}) as page:
        assert page.status_code == 200
        assert page.mimetype == "text/html"
        html = page.text
    assets = re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', html)
    assert sorted(assets) == ["/docs/static/docs.css", "/docs/static/docs.js"]
    for asset in assets:
        with client.get(asset) as response:
            assert response.status_code == 200
            assert "http://" not in response.text and "https://" not in response.text
    assert "https://" not in html and "http://" not in html


def test_the_meaning_of_score_and_a_readable_exclude_are_documented(document):
    score = document["components"]["schemas"]["Recommendation"]["properties"]["score"]
    assert "X-Model-Version" in score["description"] and "[0, 1]" in score["description"]
    recs = document["paths"]["/users/{user_id}/recs"]["get"]["parameters"]
    (exclude,) = [p for p in recs if p["name"] == "exclude"]
    assert len(exclude["schema"]["anyOf"][0]["pattern"]) < 50  # a pattern a person can read
