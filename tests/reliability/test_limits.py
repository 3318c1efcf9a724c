"""Limits and headers: body size, JSON nesting, no-store tokens, nosniff, CORS allow-list."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
import requests

from serving.api.cors import parse_origins

ORIGIN = "https://app.example.com"


@pytest.fixture
def settings():
    return {"DISCERNER_MAX_BODY_BYTES": 4096}


def _padded(head: bytes, size: int) -> bytes:
    """`head` then spaces up to `size` bytes: any cut after `head` still parses as `head`."""
    return head + b" " * (size - len(head))


def _chunked(api, path, body: bytes, content_type: str):
    """POST `body` as a chunked request: no Content-Length, as gunicorn hands it over."""
    return api.post(
        path,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("path", ["/users", "/activities", "/token"])
def test_a_body_over_the_limit_is_413_with_or_without_a_length(api, store, path):
    body = json.dumps({"external_id": "x" * 5000}).encode()
    declared = api.post(path, data=body, content_type="application/json")
    assert declared.status_code == 413
    assert declared.get_json()["error"]["status"] == 413
    streamed = _chunked(api, path, body, "application/json")
    assert streamed.status_code == 413
    assert store.count_users() == 0


@pytest.mark.parametrize(
    ("path", "head", "content_type"),
    [
        ("/users", b'{"external_id": "a"}', "application/json"),
        ("/users/1/products/1/activities", b"score=2", "application/x-www-form-urlencoded"),
        ("/users/1/products/1/activities", b'{"score": 2}', "application/json"),
    ],
)
def test_a_chunked_body_over_the_limit_is_refused_not_cut_and_parsed(
    api, store, path, head, content_type
):
    store.create_user()
    store.create_product()
    # Cut at the limit (4096), this body would be a valid request.
    response = _chunked(api, path, _padded(head, 4097), content_type)
    assert response.status_code == 413
    assert response.get_json()["error"]["status"] == 413
    assert (store.count_users(), store.count_activities()) == (1, 0)


def test_a_chunked_body_at_the_limit_is_read_whole(api, store):
    response = _chunked(api, "/users", _padded(b'{"external_id": "a"}', 4096), "application/json")
    assert response.status_code == 201
    assert store.get_user(1)["external_id"] == "a"


def test_a_live_server_refuses_a_chunked_body_over_the_limit(new_server):
    server = new_server(DISCERNER_MAX_BODY_BYTES="4096")
    server.add_account()
    session = server.login()
    head = b'{"external_id": "a"}'

    def post(size: int) -> requests.Response:
        body = _padded(head, size)
        pieces = (body[i : i + 1000] for i in range(0, len(body), 1000))  # a generator: chunked
        return session.post(
            server.url + "/users", data=pieces, headers={"Content-Type": "application/json"}
        )

    refused = post(4097)
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["status"] == 413
    assert refused.request.headers["Transfer-Encoding"] == "chunked"
    assert session.get(server.url + "/users").json() == []
    assert post(4096).status_code == 201


@pytest.mark.parametrize("path", ["/users", "/products", "/activities", "/token"])
def test_deeply_nested_json_is_400_and_the_server_goes_on(api, path):
    depth = 1000  # well under the body limit: 2 bytes per level
    response = api.post(path, data="[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400
    assert "recursion limit exceeded" in response.get_json()["error"]["message"]
    assert api.get("/users").status_code == 200


def test_nesting_that_the_api_uses_is_accepted(api, store):
    store.create_user()
    store.create_product()
    response = api.post("/activities", json=[{"user_id": 1, "product_id": 1}])
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        ({"username": "alice", "password": "correct horse battery staple"}, 200),
        ({"username": "alice", "password": "no"}, 401),
    ],
)
def test_token_answers_are_never_cached(client, credentials, status):
    response = client.post("/token", data=credentials)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/users", 200),
        ("GET", "/nowhere", 404),
        ("PUT", "/users", 405),
        ("GET", "/users/1", 404),
        ("GET", "/metrics", 200),
        ("GET", "/docs", 200),
        ("OPTIONS", "/users", 200),
    ],
)
def test_every_answer_says_nosniff(api, method, path, status):
    response = api.open(path, method=method)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_an_unauthenticated_answer_says_nosniff_too(client):
    response = client.get("/users")
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _preflight(client, origin):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }
    return client.options("/users", headers=headers)


def test_cors_is_off_by_default(api):
    assert (
        "Access-Control-Allow-Origin" not in api.get("/users", headers={"Origin": ORIGIN}).headers
    )
    preflight = _preflight(api, ORIGIN)
    assert not [name for name, _ in preflight.headers.items() if name.startswith("Access-Control")]


class TestCorsAllowList:
    @pytest.fixture
    def settings(self):
        return {"DISCERNER_CORS_ORIGINS": f"{ORIGIN}, http://localhost:3000/"}

    def test_a_listed_origin_may_call_and_read_the_paging_headers(self, api):
        response = api.get("/users", headers={"Origin": ORIGIN})
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "X-Total-Count" in response.headers["Access-Control-Expose-Headers"]
        assert "Origin" in response.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in response.headers

    def test_a_listed_origin_passes_the_preflight(self, api):
        preflight = _preflight(api, "http://localhost:3000")
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]

    def test_another_origin_gets_no_cors_headers(self, api):
        for response in (
            api.get("/users", headers={"Origin": "https://evil.example"}),
            _preflight(api, "https://evil.example"),
        ):
            assert "Access-Control-Allow-Origin" not in response.headers
            assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("setting", ["*", "app.example.com", "https://a.example, *"])
def test_a_wildcard_or_a_bare_host_is_not_an_origin(setting):
    with pytest.raises(ValueError, match="DISCERNER_CORS_ORIGINS"):
        parse_origins(setting)


def test_origins_are_parsed_from_a_comma_separated_setting():
    assert parse_origins(" https://a.example/ ,,http://b.example:8080") == {
        "https://a.example",
        "http://b.example:8080",
    }
    assert parse_origins("") == frozenset()


def test_a_client_that_stops_mid_request_loses_its_thread_after_the_deadline(new_server):
    server = new_server(DISCERNER_READ_SECONDS="1")
    host, port = server.url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(12):  # more than the server's 8 request threads
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and nothing more
        stalled.append(sock)
    time.sleep(0.5)  # every request thread is now waiting for the rest of a request
    started = time.monotonic()
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    assert time.monotonic() - started < 5
    for sock in stalled:  # each was closed at its deadline, never answered
        sock.settimeout(5)
        assert sock.recv(100) == b""
        sock.close()
