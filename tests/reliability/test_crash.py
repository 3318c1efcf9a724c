"""SIGKILL of `discerner serve` under concurrent HTTP writes: every acknowledged write survives."""

from __future__ import annotations

import threading
import time

import requests

WRITERS = 6
SECONDS_BEFORE_KILL = 2.0


def _writer(server, token, number, acknowledged, stop):
    """POST users (external_id names them) and activities (a unique score names each), and PATCH
    a product's attribute of this writer to a growing number, until the server dies; record
    every 2xx."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    i = 0
    while not stop.is_set():
        i += 1
        try:
            if i % 3 == 0:
                name = f"w{number}-{i}"
                response = session.post(
                    server.url + "/users", json={"external_id": name}, timeout=10
                )
                if response.status_code == 201:
                    acknowledged["users"].append((response.json()["id"], name))
            elif i % 6 == 1:
                product = 1 + number % 3
                body = {f"w{number}": i, "labels": [f"w{number}-{i}"]}
                response = session.patch(f"{server.url}/products/{product}", json=body, timeout=10)
                if response.status_code == 200:
                    acknowledged["patches"].append((product, number, i))
            else:
                score = number * 1_000_000 + i
                path = f"/users/{1 + i % 5}/products/{1 + number % 3}/activities"
                response = session.post(server.url + path, json={"score": score}, timeout=10)
                if response.status_code == 201:
                    body = response.json()
                    acknowledged["activities"].append(
                        (body["id"], body["user_id"], body["product_id"], score)
                    )
        except requests.RequestException:
            return  # the server is gone: nothing after this was acknowledged


def _load_then_kill(server, token):
    acknowledged = {"users": [], "activities": [], "patches": []}
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(server, token, n, acknowledged, stop))
        for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS_BEFORE_KILL)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return acknowledged


def _everything(server, token, resource):
    response = requests.get(
        server.url + f"/{resource}?limit=10000",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 200
    assert "Link" not in response.headers
    return response.json()


def test_every_acknowledged_write_survives_sigkill_once(new_server):
    first = new_server()
    first.add_account()
    token = first.login().headers["Authorization"].split()[1]
    session = first.login()
    for _ in range(5):
        assert session.post(first.url + "/users").status_code == 201
    for _ in range(3):
        assert session.post(first.url + "/products").status_code == 201

    acknowledged = _load_then_kill(first, token)
    assert len(acknowledged["activities"]) > 50, "the load was too light to test anything"

    second = new_server(home=first.home)  # same data folder, no manual repair
    users = {user["id"]: user.get("external_id") for user in _everything(second, token, "users")}
    activities = _everything(second, token, "activities")
    stored = {(a["id"], a["user_id"], a["product_id"], a["score"]) for a in activities}

    assert set(acknowledged["users"]) <= set(users.items())
    assert set(acknowledged["activities"]) <= stored
    # Nothing twice: ids and the unique scores and external ids appear once each.
    scores = [a["score"] for a in activities]
    assert len(scores) == len(set(scores)) and len({a["id"] for a in activities}) == len(activities)
    names = [name for name in users.values() if name is not None]
    assert len(names) == len(set(names))
    # At most the requests in flight at the kill were stored without an answer.
    assert len(stored) - len(acknowledged["activities"]) <= WRITERS
    assert len(users) - 5 - len(acknowledged["users"]) <= WRITERS
    # Each writer's last acknowledged patch is there, or the one it sent when the server died.
    products = {product["id"]: product for product in _everything(second, token, "products")}
    last = {(p, n): i for p, n, i in sorted(acknowledged["patches"], key=lambda a: a[2])}
    assert len(last) == WRITERS, "every writer had a patch acknowledged"
    for (product, number), i in last.items():
        assert products[product][f"w{number}"] in (i, i + 6)
    assert requests.get(second.url + "/ready", timeout=10).json()["store"] == "open"
