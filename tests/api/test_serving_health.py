"""/health, /ready and /metrics."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from live import wait_until
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from serving.runtime.candidates import Candidates
from serving.runtime.metrics import Metrics
from serving.runtime.wsgi import Starting


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
    assert response.headers["Content-Type"].count("charset") == 1


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


def _request_counts(client):
    """`discerner_http_requests_total` as {(method, endpoint, status): count}."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    family = next(f for f in families if f.name == "discerner_http_requests")
    return {
        (s.labels["method"], s.labels["endpoint"], s.labels["status"]): s.value
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_made_up_methods_and_paths_add_no_metrics_labels(client):
    for number in range(30):
        client.open("/users", method=f"BREW{number}")
        client.get(f"/no/such/path/{number}")
        client.open(f"/no/such/path/{number}", method=f"PROPFIND{number}")
    assert _request_counts(client) == {
        ("other", "unmatched", "405"): 30.0,
        ("GET", "unmatched", "404"): 30.0,
        ("other", "unmatched", "404"): 30.0,
    }


def test_metrics_labels_keep_standard_methods_and_real_status_codes():
    metrics = Metrics()
    metrics.observe("PATCH", "users.get_user", 204, 0.01)
    metrics.observe("patch", "users.get_user", 999, 0.01)  # methods are case-sensitive
    text = metrics.response().get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["discerner_http_requests"].samples
    labels = {
        (s.labels["method"], s.labels["status"]) for s in samples if s.name.endswith("_total")
    }
    assert labels == {("PATCH", "204"), ("other", "other")}


SECRET_DETAIL = "no such table [SQL: SELECT name FROM registered_models] in /srv/private/mlflow.db"


class _UnreadableRegistry:
    def version(self):
        raise RuntimeError(SECRET_DETAIL)


class _BrokenChampion:
    def version(self):
        return SimpleNamespace(name="discerner", version="3")

    def load(self, version):
        raise OSError(SECRET_DETAIL)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (_UnreadableRegistry(), "the model registry cannot be read"),
        (_BrokenChampion(), "discerner/3 failed to load"),
    ],
)
def test_ready_gives_a_short_reason_and_leaves_the_details_to_the_log(
    app, client, caplog, source, reason
):
    models = app.extensions["discerner"].models
    models.source = source
    models.check()
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json()["model"]["reason"] == reason + "; the server log has the details"
    assert "SELECT" not in response.text and "/srv" not in response.text
    assert SECRET_DETAIL in caplog.text


def test_a_failed_precompute_reports_a_short_reason(caplog):
    def known_users():
        raise MemoryError(SECRET_DETAIL)

    candidates = Candidates(SimpleNamespace(known_users=known_users), depth=5)
    candidates.fill_in_background(store=None).join(10)
    assert candidates.state == {
        "state": "failed",
        "depth": 5,
        "reason": "precomputing failed; the server log has the details",
    }
    assert SECRET_DETAIL in caplog.text
