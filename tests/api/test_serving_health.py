"""/health, /ready and /metrics."""

from __future__ import annotations

import threading

from live import wait_until
from werkzeug.test import Client

from serving.wsgi import Starting


def test_health_needs_no_token(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_names_the_store_and_the_fallback(client):
    body = client.get("/ready").get_json()
    assert body["status"] == "ready"
    assert body["store"] == "open"
    assert body["model"]["version"] == "popularity"


def test_ready_is_503_once_the_store_is_closed(app, client):
    app.extensions["discerner"].close()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "the store is not open"


def test_metrics_count_requests_by_endpoint_and_status(api):
    api.post("/users")
    api.get("/users/7")
    text = api.get("/metrics").text
    created = '{endpoint="users.create_user",method="POST",status="201"} 1.0'
    assert "discerner_http_requests_total" + created in text
    assert 'endpoint="users.get_user",method="GET",status="404"} 1.0' in text
    assert "discerner_http_request_duration_seconds_bucket" in text
    assert 'discerner_store_rows{table="users"} 1.0' in text
    assert 'discerner_model_info{version="popularity"} 1.0' in text


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics", headers={"Accept": "text/plain"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"


def test_health_answers_while_the_app_is_still_being_built(app):
    opened = threading.Event()

    def build():
        opened.wait(10)  # the store is "opening" until the test says so
        return app

    client = Client(Starting(build))
    assert client.get("/health").json == {"status": "ok"}
    starting = client.get("/ready")
    assert (starting.status_code, starting.headers["Retry-After"]) == (503, "1")
    assert starting.json == {"error": {"status": 503, "message": "starting: the store is opening"}}
    assert client.get("/users").status_code == 503
    opened.set()
    wait_until(lambda: client.get("/ready").status_code == 200)
    assert client.get("/users").status_code == 401  # the API itself answers now
