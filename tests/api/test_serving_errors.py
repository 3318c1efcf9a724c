"""Errors are JSON with the right status: 404, 405, 406, 413, 415, 500; security headers."""

from __future__ import annotations

import pytest

from serving import create_app


def test_unknown_path_is_404_json(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == {
        "status": 404,
        "message": "no such endpoint: GET /nowhere",
    }


def test_wrong_method_is_405_json_with_allow(api):
    response = api.put("/users")
    assert response.status_code == 405
    assert response.get_json()["error"]["status"] == 405
    assert response.get_json()["error"]["message"].startswith("/users does not accept PUT")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize("accept", ["text/html", "text/plain, image/png", "application/xml"])
def test_accept_without_json_is_406(api, accept):
    response = api.get("/users", headers={"Accept": accept})
    assert response.status_code == 406
    assert response.get_json()["error"]["status"] == 406


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*", "text/html, */*"])
def test_accept_with_json_is_served(api, accept):
    assert api.get("/users", headers={"Accept": accept}).status_code == 200


@pytest.mark.parametrize("settings", [{"DISCERNER_MAX_BODY_BYTES": 1000}])
def test_body_over_the_limit_is_413(api, settings):
    rows = [{"user_id": 1, "product_id": 1}] * 100
    response = api.post("/activities", json=rows)
    assert response.status_code == 413
    assert response.get_json()["error"]["status"] == 413


def test_unsupported_media_type_is_415(api):
    response = api.post("/activities", data=b"<xml/>", content_type="application/xml")
    assert response.status_code == 415


def test_unexpected_errors_are_500_json_without_a_traceback(tmp_path, caplog):
    app = create_app({"DISCERNER_HOME": str(tmp_path / "home"), "DISCERNER_SECRET_KEY": "s" * 40})
    app.extensions["discerner"].store.count_users = lambda: 1 / 0
    try:
        response = app.test_client().get("/metrics")
    finally:
        app.extensions["discerner"].close()
    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"status": 500, "message": "internal server error; the server log has the details"}
    }
    assert "ZeroDivisionError" in caplog.text


def test_every_response_says_nosniff(client, api):
    for response in (client.get("/health"), client.get("/nope"), api.get("/users")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
