"""Serving the registered champion: live histories, fallbacks, filters, similar products, swaps."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import threading

import mlflow
import numpy as np
import pytest
import requests

from discerner import config, datasets, tracking, training
from discerner.models import ItemKNN, PureSVD, UserKNN
from discerner.store import Store
from discerner.tracking import registry

N_USERS, N_PRODUCTS = 60, 30


@contextlib.contextmanager
def _tracking(home):
    """MLflow pointed at `home` for the block; the process's previous setting comes back."""
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", config.tracking_uri(home))
        try:
            yield tracking.setup(home)
        finally:
            mlflow.set_tracking_uri(previous)


def _log_and_register(model, frame, home):
    with mlflow.start_run(experiment_id=tracking.experiment_id(home=home)):
        info = training.log_model(model.fit(frame), frame["user_id"].unique())
    return registry.register(info.model_uri, {"model_class": type(model).__name__})


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """A data folder with a store and registered versions 1 (PureSVD, champion), 2 (item kNN)
    and 3 (user kNN)."""
    home = config.ensure_home(tmp_path_factory.mktemp("champion") / "home")
    data = datasets.generate(n_users=N_USERS, n_products=N_PRODUCTS, n_activities=900, seed=3)
    with Store.open(config.store_dir(home)) as store:
        for category in data.products.sort_values("id")["category"]:
            store.create_product(attributes={"category": category})
        store.import_interactions(data.activities, progress=False)
    with _tracking(home):
        first = _log_and_register(PureSVD(n_components=6), data.activities, home)
        _log_and_register(ItemKNN(k=10), data.activities, home)
        _log_and_register(UserKNN(k=10), data.activities, home)
        registry.promote(first.version)
    return home


@pytest.fixture(params=[0, 50], ids=["live", "precomputed"])
def settings(request, trained_home, tmp_path):
    """The app runs on a copy of the trained data folder (tests change the store); each test
    runs with every answer scored live, and with the champion's top lists precomputed."""
    home = tmp_path / "copy"
    shutil.copytree(trained_home, home)
    return {
        "DISCERNER_HOME": str(home),
        "DISCERNER_MODEL_POLL_SECONDS": 0,
        "DISCERNER_PRECOMPUTE_DEPTH": request.param,
    }


@pytest.fixture(autouse=True)
def _precomputed(request, settings, wait_until):
    """With precomputing on, tests start once the champion's lists are built."""
    if settings["DISCERNER_PRECOMPUTE_DEPTH"] and "app" in request.fixturenames:
        models = request.getfixturevalue("app").extensions["discerner"].models
        wait_until(lambda: models.status()["precomputed"]["state"] == "built")


@pytest.fixture
def reference(app):
    """The champion loaded by the library itself, to compare answers with."""
    uri = config.tracking_uri(config.home(app.config["DISCERNER_HOME"]))
    model, _ = registry.load_champion(tracking_uri=uri)
    return model


def _recs(api, user_id, query="", **kwargs):
    response = api.get(f"/users/{user_id}/recs{query}", **kwargs)
    assert response.status_code == 200, response.get_json()
    ids = [r["product_id"] for r in response.get_json()]
    return ids, response.headers["X-Model-Version"]


def _expected(reference, store, user_id, n=10, **options):
    history, scores = store.user_history(user_id)
    ids, _ = reference.recommend_history(history, scores, n=n, **options)
    return ids.tolist()


def test_ready_reports_the_loaded_champion(api):
    body = api.get("/ready").get_json()
    assert body["status"] == "ready"
    assert body["model"]["version"] == "discerner/1"
    assert body["model"]["state"] == "loaded"
    assert body["model"]["model_class"] == "PureSVD"
    assert "load_seconds" in body["model"] and "loaded_in_seconds" not in body["model"]


def test_recs_come_from_the_champion_on_the_live_history(app, api, store, reference):
    candidates = app.extensions["discerner"].models.candidates
    for user_id in (1, 7, 33):
        if candidates is not None:  # precomputed: the answer comes from the built list
            assert candidates.get(user_id, store.history_version(user_id))[0]
        ids, version = _recs(api, user_id)
        assert version == "discerner/1"
        assert ids == _expected(reference, store, user_id)


def test_a_posted_activity_is_excluded_and_shapes_the_next_recs(api, store, reference):
    before, _ = _recs(api, 5)
    api.post(f"/users/5/products/{before[0]}/activities", json={"score": 5})
    after, _ = _recs(api, 5)
    assert before[0] not in after
    assert after == _expected(reference, store, 5)  # the fold-in of the new history


def test_a_new_user_gets_popularity_then_personal_recs(api, store, reference):
    user_id = api.post("/users").get_json()["id"]
    ids, version = _recs(api, user_id)
    assert version == "popularity"
    counts = store.product_counts().sort_values(["count", "product_id"], ascending=[False, True])
    assert ids == counts["product_id"].tolist()[:10]
    for product_id in (3, 4, 5):
        api.post(f"/users/{user_id}/products/{product_id}/activities")
    ids, version = _recs(api, user_id)
    assert version == "discerner/1"
    assert ids == _expected(reference, store, user_id)
    assert not {3, 4, 5} & set(ids)


def test_a_product_created_after_training_reaches_users_by_live_popularity(app, api, store):
    product_id = api.post("/products").get_json()["id"]
    most = int(store.product_counts()["count"].max())
    rows = [{"user_id": 1 + i % N_USERS, "product_id": product_id} for i in range(most + 1)]
    assert api.post("/activities", json=rows).status_code == 201  # now the most popular
    app.extensions["discerner"].models.refresh()
    newcomer = api.post("/users").get_json()["id"]
    ids, version = _recs(api, newcomer)
    assert (ids[0], version) == (product_id, "popularity")


def test_category_filter_and_exclude(api, store, reference):
    categories = store.product_categories()
    wanted = categories[1]
    ids, _ = _recs(api, 9, f"?category={wanted}&n=5")
    assert ids and all(categories[p] == wanted for p in ids)
    members = np.array(sorted(p for p, c in categories.items() if c == wanted))
    assert ids == _expected(reference, store, 9, n=5, allowed=members)[: len(ids)]
    best, _ = _recs(api, 9)
    ids, _ = _recs(api, 9, f"?exclude={best[0]},{best[1]}")
    assert ids[:8] == best[2:]
    assert _recs(api, 9, "?category=no-such-category")[0] == []


def test_a_deleted_product_is_never_recommended(api):
    best, _ = _recs(api, 12)
    api.delete(f"/products/{best[0]}")
    after, _ = _recs(api, 12)
    assert best[0] not in after
    assert after[:9] == best[1:10]


def test_similar_products_come_from_the_champion(api, reference):
    response = api.get("/products/4/similar?n=5")
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == "discerner/1"
    frame = reference.similar_products([4], n=5)
    assert [r["product_id"] for r in response.get_json()] == frame["similar_product_id"].tolist()
    assert api.get("/products/999/similar").status_code == 404
    unseen = api.post("/products").get_json()["id"]
    assert api.get(f"/products/{unseen}/similar").get_json() == []


def test_similar_products_work_when_a_user_knn_serves(app, api):
    _promote(app, 3)
    app.extensions["discerner"].models.check()
    assert api.get("/users/1/recs").headers["X-Model-Version"] == "discerner/3"
    uri = config.tracking_uri(config.home(app.config["DISCERNER_HOME"]))
    model, _ = registry.load_champion(tracking_uri=uri)
    response = api.get("/products/4/similar?n=5")
    assert response.headers["X-Model-Version"] == "discerner/3"
    found = response.get_json()
    assert len(found) == 5  # co-occurrence: every product the model saw has neighbours
    frame = model.similar_products([4], n=5)
    assert [r["product_id"] for r in found] == frame["similar_product_id"].tolist()
    assert all(0 < r["score"] <= 1 for r in found)  # cosines of user sets


def _promote(app, version):
    uri = config.tracking_uri(config.home(app.config["DISCERNER_HOME"]))
    registry.promote(version, mlflow_client=registry.client(uri))


def test_hot_swap_under_concurrent_requests_fails_nothing(app, auth, wait_until):
    header = auth.headers()
    outcomes: dict[int, list[tuple[int, str]]] = {user_id: [] for user_id in (1, 2, 3, 4)}
    stop = threading.Event()

    def hammer(user_id):
        client = app.test_client()
        while not stop.is_set():
            response = client.get(f"/users/{user_id}/recs", headers=header)
            outcomes[user_id].append((response.status_code, response.headers["X-Model-Version"]))

    threads = [threading.Thread(target=hammer, args=(u,)) for u in outcomes]
    for thread in threads:
        thread.start()
    try:
        _promote(app, 2)
        app.extensions["discerner"].models.check()
        seen = sum(map(len, outcomes.values()))
        wait_until(lambda: sum(map(len, outcomes.values())) >= seen + 40)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    answers = [answer for answers in outcomes.values() for answer in answers]
    assert {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {"discerner/1", "discerner/2"}
    for answers in outcomes.values():  # each client sees the swap once, never back
        versions = [version for _, version in answers]
        assert versions == sorted(versions), versions
    assert _recs(app.test_client(), 1, headers=header)[1] == "discerner/2"


def test_a_broken_champion_keeps_the_old_one_serving(app, api, caplog):
    home = config.home(app.config["DISCERNER_HOME"])
    with _tracking(home):
        frame = app.extensions["discerner"].store.interactions()
        version = _log_and_register(PureSVD(n_components=3), frame, home)
        folder = registry.model_folder(version)
    shutil.rmtree(folder)  # the artifact is gone
    _promote(app, version.version)
    with caplog.at_level(logging.ERROR):
        app.extensions["discerner"].models.check()
    assert f"champion discerner/{version.version} failed to load" in caplog.text
    body = api.get("/ready").get_json()
    assert (body["status"], body["model"]["version"]) == ("degraded", "discerner/1")
    assert f"discerner/{version.version}" in body["model"]["reason"]
    assert _recs(api, 1)[1] == "discerner/1"


def test_sighup_makes_a_live_server_swap(settings, new_server, wait_until):
    home = config.home(settings["DISCERNER_HOME"])
    server = new_server(home=home, DISCERNER_MODEL_POLL_SECONDS="0")
    server.add_account("carol", "pw")
    session = requests.Session()
    login = session.post(server.url + "/token", {"username": "carol", "password": "pw"})
    session.headers["Authorization"] = "Token " + login.json()["token"]

    def version():
        return session.get(server.url + "/users/1/recs").headers["X-Model-Version"]

    wait_until(lambda: session.get(server.url + "/ready").status_code == 200)
    assert version() == "discerner/1"
    registry.promote(2, mlflow_client=registry.client(config.tracking_uri(home)))
    server.process.send_signal(signal.SIGHUP)
    wait_until(lambda: version() == "discerner/2")
    session.close()
    assert server.stop() == 0
