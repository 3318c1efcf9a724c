"""Serving on PostgreSQL: apps on one database share the secret, accounts, login limits, histories
and precomputed lists, as processes and hosts of one service do."""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner
from live import PASSWORD, USERNAME, wait_until

from discerner.cli import main
from discerner.models import Popularity
from discerner.security import hash_password
from discerner.store import open_store
from serving import create_app
from serving.runtime.candidates import Candidates


@pytest.fixture
def url(postgres_store_url):
    return postgres_store_url()


@pytest.fixture
def new_app(tmp_path, url):
    """`new_app(**settings)`: an app on the test's database with its own data folder."""
    apps = []

    def build(**settings):
        home = tmp_path / f"home{len(apps)}"
        config = {"TESTING": True, "DISCERNER_HOME": str(home), "DISCERNER_STORE": url}
        apps.append(create_app({**config, **settings}))
        wait_until(apps[-1].extensions["discerner"].models.ready)
        return apps[-1]

    yield build
    for app in apps:
        app.extensions["discerner"].close()


def _login(app, password=PASSWORD, address="10.0.0.1"):
    return app.test_client().post(
        "/token",
        data={"username": USERNAME, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _headers(token):
    return {"Authorization": f"Token {token}"}


def test_apps_on_one_database_act_as_one_service(new_app):
    one, two = new_app(), new_app()
    one.extensions["discerner"].store.create_account(USERNAME, hash_password(PASSWORD))
    token = _login(one).get_json()["token"]
    api_one, api_two = one.test_client(), two.test_client()

    # A token from one works on the other: the signing secret lives in the database.
    assert api_two.post("/users", headers=_headers(token)).status_code == 201
    assert api_one.post("/products", headers=_headers(token)).status_code == 201
    assert api_one.post("/products", headers=_headers(token)).status_code == 201
    # Read your writes across servers: an activity posted to one leaves the other's answer.
    api_two.post("/users", headers=_headers(token))
    assert (
        api_two.post("/users/2/products/2/activities", headers=_headers(token)).status_code == 201
    )
    assert (
        api_one.post("/users/1/products/1/activities", headers=_headers(token)).status_code == 201
    )
    two.extensions["discerner"].models.refresh()  # live popularity counts p1 and p2 once each
    recs = api_two.get("/users/1/recs", headers=_headers(token)).get_json()
    assert [r["product_id"] for r in recs] == [2]
    # Revoking the account through one revokes its tokens on both within the account cache's
    # time (DISCERNER_ACCOUNT_CACHE_SECONDS, 1 s).
    assert two.extensions["discerner"].store.set_password(USERNAME, hash_password("new-pass"))
    revoked = time.monotonic()
    for api in (api_one, api_two):
        wait_until(lambda api=api: api.get("/users", headers=_headers(token)).status_code == 401)
    assert time.monotonic() - revoked < 1.5


def test_failed_logins_count_across_apps(new_app):
    one = new_app(DISCERNER_LOGIN_FAILURES_PER_USER=3)
    two = new_app(DISCERNER_LOGIN_FAILURES_PER_USER=3)
    one.extensions["discerner"].store.create_account(USERNAME, hash_password(PASSWORD))
    assert _login(one, "wrong").status_code == 401
    assert _login(two, "wrong", "10.0.0.2").status_code == 401
    assert _login(one, "wrong", "10.0.0.3").status_code == 401
    refused = _login(two, address="10.0.0.4")  # the right password, but the limit is used up
    assert refused.status_code == 429 and 55 <= int(refused.headers["Retry-After"]) <= 60


def test_simultaneous_wrong_passwords_on_two_apps_stop_at_the_limit(new_app):
    apps = [new_app(), new_app()]  # 5 failures per username
    apps[0].extensions["discerner"].store.create_account(USERNAME, hash_password(PASSWORD))
    statuses: list[int] = []
    barrier = threading.Barrier(16)

    def guess(number):
        barrier.wait()
        statuses.append(_login(apps[number % 2], "wrong", f"10.0.1.{number}").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [401] * 5 + [429] * 11


def test_top_lists_are_computed_by_one_process_and_read_by_the_others(url):
    with open_store(url) as store, open_store(url) as other:
        for _ in range(3):
            store.create_user()
        for _ in range(4):
            store.create_product()
        for user, products in {1: (1, 2), 2: (1, 3), 3: (1,)}.items():
            for product in products:
                store.add_activity(user, product)
        model = Popularity().fit(store.interactions())
        first = Candidates(model, depth=2, name="discerner/1")
        first.fill(store)
        second = Candidates(model, depth=2, name="discerner/1")
        second.fill(other)
        assert first.state["shared"] == "computed here"
        assert second.state["shared"] == "read from the store"
        for user in (1, 2, 3):
            version = other.history_version(user)
            assert second.get(user, version) == first.get(user, version) is not None
        other.add_activity(3, 2)
        assert second.get(3, other.history_version(3)) is None  # a list only for its history


def test_serve_refuses_more_workers_on_the_embedded_store(home, monkeypatch):
    monkeypatch.delenv("DISCERNER_STORE", raising=False)
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "one process" in result.output and "postgresql://" in result.output


def test_account_commands_reach_the_database(home, url, monkeypatch):
    monkeypatch.setenv("DISCERNER_STORE", "")  # --store sets it; restored after the test
    runner = CliRunner()
    created = runner.invoke(
        main, ["--store", url, "accounts", "create", "bob", "--password-stdin"], input="pw\n"
    )
    assert created.exit_code == 0, created.output
    with open_store(url, readonly=True) as store:
        assert store.get_account("bob") is not None
    listed = runner.invoke(main, ["--store", url, "accounts", "list"])
    assert listed.output.startswith("bob\t")
    assert runner.invoke(main, ["--store", url, "accounts", "delete", "bob"]).exit_code == 0
    with open_store(url, readonly=True) as store:
        assert store.list_accounts() == []
