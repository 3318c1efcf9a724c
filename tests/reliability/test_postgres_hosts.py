"""Two `discerner serve` processes on one PostgreSQL database and one MLflow registry, as two
hosts behind a load balancer: they behave as one service."""

from __future__ import annotations

import time

import pytest
import requests
from live import PASSWORD, USERNAME, LiveServer, run_discerner, wait_until

pytestmark = pytest.mark.slow


def _built(server):
    """Whether the server's workers have their top lists (asked several times: with two
    workers, each /ready goes to one, and one may still be starting: a 503 without a model)."""
    for _ in range(8):
        model = requests.get(server.url + "/ready", timeout=10).json().get("model", {})
        if model.get("precomputed", {}).get("state") != "built":
            return False
    return True


@pytest.fixture
def hosts(tmp_path, postgres_store_url):
    """Two servers (the first with two workers) on a store with demo data and a champion."""
    env = {
        "DISCERNER_STORE": postgres_store_url(),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",  # the shared registry
        "DISCERNER_LOGIN_FAILURES_PER_USER": "3",
    }
    trainer = tmp_path / "trainer"
    demo = ("demo", "--users", "300", "--products", "80", "--activities", "6000", "--no-train")
    for args in (demo, ("train", "--candidates", "pure_svd")):
        done = run_discerner(*args, home=trainer, env=env, timeout=300)
        assert done.returncode == 0, done.stderr.decode()
    one = LiveServer(tmp_path / "host1", workers=2, **env).start(timeout=120)
    two = LiveServer(tmp_path / "host2", **env).start(timeout=120)
    one.add_account()
    try:
        for server in (one, two):
            wait_until(lambda server=server: _built(server), timeout=120)
        yield one, two
    finally:
        for server in (one, two):
            server.stop()


def test_two_servers_on_one_database_act_as_one_service(hosts, tmp_path):
    one, two = hosts
    session = one.login()
    token = session.headers["Authorization"]

    # A token from one host works on the other (the signing secret is the database's).
    assert requests.get(two.url + "/users?limit=1", headers={"Authorization": token}).ok

    # An activity written through one host is excluded from the other's next answer, also
    # where that answer came from a precomputed list (history versions are the database's).
    for user in (1, 2, 3, 4, 5):
        recs = session.get(f"{two.url}/users/{user}/recs?n=10").json()
        assert (
            session.get(f"{two.url}/users/{user}/recs").headers["X-Model-Version"] != "popularity"
        )
        for pick in recs[:3]:
            path = f"/users/{user}/products/{pick['product_id']}/activities"
            assert session.post(one.url + path).status_code == 201
            again = [r["product_id"] for r in session.get(f"{two.url}/users/{user}/recs").json()]
            assert pick["product_id"] not in again

    # Failed logins count across hosts: 3 per username, spread over both.
    for number, server in enumerate((one, two, one)):
        wrong = {"username": USERNAME, "password": "wrong"}
        address = {"X-Forwarded-For": f"10.0.0.{number}"}  # ignored: no trusted proxies
        assert requests.post(server.url + "/token", data=wrong, headers=address).status_code == 401
    right = {"username": USERNAME, "password": PASSWORD}
    assert requests.post(two.url + "/token", data=right).status_code == 429

    # Revoking the account (from the command line, on the database) revokes it on both hosts.
    done = run_discerner("accounts", "delete", USERNAME, home=tmp_path / "host1", env=one.env)
    assert done.returncode == 0, done.stderr.decode()
    time.sleep(1.0)  # the bound: an account is looked up again after 1 s at most
    for server in (one, two, one, two):  # both workers of the first host too
        response = requests.get(server.url + "/users?limit=1", headers={"Authorization": token})
        assert response.status_code == 401
