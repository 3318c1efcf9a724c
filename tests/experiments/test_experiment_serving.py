"""Serving a running experiment: variants per user, headers, impressions, start and stop."""

from __future__ import annotations

import pytest
from live import PASSWORD, USERNAME, wait_until

from discerner import config
from discerner.experiments import assign, book
from discerner.security import hash_password
from discerner.store import Store
from serving import create_app

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


@pytest.fixture
def app(experiment_home):
    settings = {"TESTING": True, "DISCERNER_HOME": str(experiment_home)}
    settings |= {"DISCERNER_SECRET_KEY": SECRET, "DISCERNER_MODEL_POLL_SECONDS": 0}
    settings |= {"DISCERNER_PRECOMPUTE_DEPTH": 0}
    app = create_app(settings)
    services = app.extensions["discerner"]
    wait_until(services.models.ready)
    services.store.create_account(USERNAME, hash_password(PASSWORD))
    yield app
    services.close()


@pytest.fixture
def api(app):
    client = app.test_client()
    token = client.post("/token", data={"username": USERNAME, "password": PASSWORD})
    headers = {"Authorization": f"Token {token.get_json()['token']}"}

    def call(path, json=None):
        if json is None:
            return client.get(path, headers=headers)
        return client.post(path, headers=headers, json=json)

    return call


def _check(app):
    """What the watcher does on its next poll, done now."""
    app.extensions["discerner"].experiments.check()


def test_without_an_experiment_nothing_changes(app, api):
    response = api("/users/1/recs")
    assert response.headers["X-Model-Version"] == "discerner/1"
    assert "X-Experiment" not in response.headers and "X-Variant" not in response.headers
    assert app.extensions["discerner"].experiments.flush() == 0


def test_users_see_their_variant_and_impressions_are_logged(app, api, experiment_home):
    defined = book.start("ab", book_variants(), name=config.MODEL_NAME)
    _check(app)
    versions = {"control": "discerner/1", "knn": "discerner/2"}
    seen = {}
    for user_id in range(1, 21):
        for _ in range(2):  # the same variant on every request
            response = api(f"/users/{user_id}/recs?n=5")
            assert response.status_code == 200
            assert response.headers["X-Experiment"] == "ab"
            variant = response.headers["X-Variant"]
            assert variant == assign(defined, user_id).name
            assert response.headers["X-Model-Version"] == versions[variant]
            seen.setdefault(user_id, []).append(
                (response.headers["X-Request-Id"], [r["product_id"] for r in response.get_json()])
            )
    assert {assign(defined, u).name for u in seen} == {"control", "knn"}  # both arms used
    services = app.extensions["discerner"]
    assert services.experiments.flush() == 40
    found = services.store.impressions("ab")
    assert len(found) == 40 and found["request_id"].nunique() == 40
    first = found.iloc[0]
    assert (first["request_id"], list(first["product_ids"])) == seen[1][0]
    assert first["version"] == versions[first["variant"]]
    book.stop("ab")
    _check(app)
    assert "X-Experiment" not in api("/users/1/recs").headers


def test_impressions_are_written_by_the_background_flush(app, api, experiment_home):
    book.start("bg", book_variants())
    _check(app)
    api("/users/3/recs")
    services = app.extensions["discerner"]
    services.experiments.start()  # flushes every second
    wait_until(lambda: len(services.store.impressions("bg")) == 1, timeout=10)


def book_variants():
    from discerner.experiments import Variant

    return [Variant("control", "champion", 50), Variant("knn", "2", 50)]


def test_impressions_are_readable_from_parquet_after_close(app, api, experiment_home):
    book.start("pq", book_variants())
    _check(app)
    api("/users/2/recs")
    app.extensions["discerner"].close()  # writes what is buffered
    import pandas as pd

    files = list((config.store_dir(experiment_home) / "impressions" / "pq").glob("*.parquet"))
    frame = pd.read_parquet(files[0])  # plain Parquet: no Discerner needed
    assert frame["user_id"].tolist() == [2]
    with Store.open(config.store_dir(experiment_home), readonly=True) as store:
        assert store.impressions("pq")["user_id"].tolist() == [2]


def test_admin_starts_lists_and_stops_an_experiment(app, api):
    assert api("/admin/api/experiments").get_json() == []
    body = {"name": "page", "variants": [{"target": "champion", "share": 50}]}
    body["variants"].append({"target": "2", "share": 50, "name": "knn"})
    refused = [
        ({**body, "variants": [{"target": "champion", "share": 50}] * 2}, 400, "must differ"),
        (
            {**body, "variants": [*body["variants"][:1], {"target": "9", "share": 50}]},
            400,
            "no version",
        ),
        ({**body, "variants": [*body["variants"][:1], {"target": "2", "share": 40}]}, 400, "100"),
        ({**body, "name": "no spaces"}, 400, "experiment name"),
    ]
    for wrong, status, message in refused:
        response = api("/admin/api/experiments", wrong)
        assert response.status_code == status and message in response.get_json()["error"]["message"]
    assert api("/admin/api/experiments").get_json() == []  # nothing was started
    started = api("/admin/api/experiments", body)
    assert started.status_code == 201
    assert api("/admin/api/experiments", {**body, "name": "again"}).status_code == 409
    _check(app)  # the watcher was woken too; either way, one check builds the variants
    variant = api("/users/1/recs").headers["X-Variant"]
    app.extensions["discerner"].experiments.flush()
    (listed,) = api("/admin/api/experiments").get_json()
    assert [v["name"] for v in listed["variants"]] == ["champion", "knn"]
    assert [v["version"] for v in listed["variants"]] == ["1", "2"]
    counts = {v["name"]: v["impressions"] for v in listed["variants"]}
    assert counts[variant] == 1 and sum(counts.values()) == 1
    assert listed["comparisons"][0]["variant"] == "knn"
    assert api("/admin/api/experiments/nope/stop", {}).status_code == 404
    stopped = api("/admin/api/experiments/page/stop", {"promote": "knn"})
    assert stopped.status_code == 200 and stopped.get_json()["state"] == "stopped"
    assert api("/admin/api/experiments/page/stop", {}).status_code == 409
    assert api("/admin/api/experiments").get_json() == []


@pytest.mark.slow
def test_a_live_server_follows_the_cli_and_keeps_each_user_on_one_variant(
    experiment_home, new_server
):
    import signal

    from live import run_discerner

    server = new_server(experiment_home)
    server.add_account()
    session = server.login()
    started = run_discerner(
        "experiment",
        "start",
        "live",
        "--variant",
        "champion:50",
        "--variant",
        "2:50",
        home=experiment_home,
    )
    assert started.returncode == 0, started.stderr.decode()
    server.process.send_signal(signal.SIGHUP)  # else within DISCERNER_MODEL_POLL_SECONDS
    wait_until(lambda: "X-Experiment" in session.get(f"{server.url}/users/1/recs").headers)
    defined = book.get("live")
    versions = {"champion": "discerner/1", "2": "discerner/2"}
    for user_id in range(1, 16):
        answers = [session.get(f"{server.url}/users/{user_id}/recs") for _ in range(3)]
        variants = {r.headers["X-Variant"] for r in answers}
        assert variants == {assign(defined, user_id).name}  # stable per user
        assert {r.headers["X-Model-Version"] for r in answers} == {versions[variants.pop()]}
        assert len({r.headers["X-Request-Id"] for r in answers}) == 3
    assert server.stop() == 0  # the buffered impressions are written at shutdown
    with Store.open(config.store_dir(experiment_home), readonly=True) as store:
        assert len(store.impressions("live")) >= 45
