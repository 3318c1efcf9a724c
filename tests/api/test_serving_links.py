"""`Link` headers are relative, and the Python client never sends its token to another origin."""

from __future__ import annotations

import json

import pytest
import requests

from discerner.client import Client, ForeignLinkError


def test_the_next_link_is_relative_whatever_the_host_header_says(api):
    for _ in range(3):
        api.post("/users")
    response = api.get("/users?limit=2", headers={"Host": "attacker.example"})
    assert response.headers["Link"] == '</users?limit=2&after=2>; rel="next"'


def test_the_next_link_keeps_the_filters_and_the_mount_point(api):
    api.post("/users")
    api.post("/products")
    for _ in range(2):
        api.post("/users/1/products/1/activities", json={"score": 1.0})
    response = api.get("/activities?user_id=1&limit=1", base_url="http://localhost/api/")
    assert response.headers["Link"] == '</api/activities?user_id=1&limit=1&after=1>; rel="next"'


class FakeSession:
    """Answers a client's requests from `pages` ({url: (items, next link)}); records each one."""

    def __init__(self, pages: dict[str, tuple[list, str | None]]):
        self.pages = pages
        self.sent: list[tuple[str, str | None]] = []

    def post(self, url, json=None, timeout=None):
        self.sent.append((url, None))
        return _response(url, {"token": "the-token", "expires_in": 3600})

    def request(self, method, url, headers=None, timeout=None, params=None, **kwargs):
        if params:
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        self.sent.append((url, headers.get("Authorization")))
        items, link = self.pages[url]
        return _response(url, items, {"Link": f'<{link}>; rel="next"'} if link else {})

    def close(self):
        pass


def _response(url, body, headers=None):
    response = requests.Response()
    response.status_code = 200
    response.url = url
    response._content = json.dumps(body).encode()
    response.headers.update(headers or {})
    return response


def _client(pages, base="http://api.test:8000"):
    client = Client(base, "alice", "pw")
    client.session = FakeSession(pages)
    return client


def test_the_client_follows_relative_links_from_its_own_base_url():
    pages = {
        "http://api.test:8000/api/users?limit=1": ([{"id": 1}], "/api/users?limit=1&after=1"),
        "http://api.test:8000/api/users?limit=1&after=1": ([{"id": 2}], None),
    }
    client = _client(pages, base="http://api.test:8000/api")
    assert client.users(page_size=1) == [{"id": 1}, {"id": 2}]
    assert client.session.sent[1:] == [(url, "Token the-token") for url in pages]


@pytest.mark.parametrize(
    "link",
    [
        "http://attacker.example/users?after=1",
        "//attacker.example/users?after=1",
        "https://api.test:8000/users?after=1",  # another scheme is another origin
        "http://api.test:9000/users?after=1",
    ],
)
def test_the_client_refuses_a_link_to_another_origin(link):
    client = _client({"http://api.test:8000/users?limit=1": ([{"id": 1}], link)})
    with pytest.raises(ForeignLinkError, match="another origin"):
        client.users(page_size=1)
    assert [url for url, _ in client.session.sent if "attacker" in url or "after" in url] == []


def test_an_absolute_link_to_the_same_origin_is_still_followed():
    pages = {
        "http://api.test:8000/users?limit=1": ([{"id": 1}], "http://api.test:8000/x?after=1"),
        "http://api.test:8000/x?after=1": ([{"id": 2}], None),
    }
    assert _client(pages).users(page_size=1) == [{"id": 1}, {"id": 2}]
