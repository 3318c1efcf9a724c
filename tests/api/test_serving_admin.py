"""The admin page's JSON API: counts and growth, versions, runs, promotion, training, the page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from live import trained_twice

from serving.runtime.training import STATE_FILE, TrainingRunner, TrainingRunning

STATIC = Path(__file__).resolve().parents[2] / "serving" / "api" / "static"
ENDPOINTS = ("overview", "models", "runs", "traffic", "experiments", "train")


@pytest.fixture(scope="module")
def admin_home(tmp_path_factory):
    """A data folder with generated data and versions 1 (champion) and 2 (kept out)."""
    home = tmp_path_factory.mktemp("admin") / "home"
    trained_twice(home)
    return home


@pytest.fixture
def settings(admin_home, tmp_path):
    """Each test's app runs on its own copy of the trained data folder."""
    home = tmp_path / "copy"
    shutil.copytree(admin_home, home)
    return {"DISCERNER_HOME": str(home), "DISCERNER_MODEL_POLL_SECONDS": 0}


def _get(api, endpoint: str, query: str = ""):
    response = api.get(f"/admin/api/{endpoint}{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_overview_counts_and_activities_per_day_hand_computed(api, store):
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for moment in (today, today, today.replace(hour=0), today - timedelta(days=2)):
        store.add_activity(1, 2, timestamp=moment.isoformat())
    body = _get(api, "overview", "?days=3")
    # 60 users, 30 products and 900 generated activities (2020-2023), plus the four above:
    # three today (12:00, 12:00, 00:00) and one two days ago; none yesterday.
    assert (body["users"], body["products"], body["activities"]) == (60, 30, 904)
    days = [(today - timedelta(days=k)).date().isoformat() for k in (2, 1, 0)]
    assert body["activities_per_day"] == [
        {"day": days[0], "activities": 1},
        {"day": days[1], "activities": 0},
        {"day": days[2], "activities": 3},
    ]
    assert len(_get(api, "overview")["activities_per_day"]) == 14  # the default
    for bad in ("?days=0", "?days=367", "?days=two", "?weeks=2"):
        assert api.get("/admin/api/overview" + bad).status_code == 400


def test_models_mark_the_champion_and_the_version_serving(api):
    body = _get(api, "models")
    assert (body["name"], body["alias"], body["champion"]) == ("discerner", "champion", 1)
    assert body["serving"]["version"] == "discerner/1"
    first, second = sorted(body["versions"], key=lambda v: v["version"])
    assert [v["version"] for v in body["versions"]] == [2, 1]  # newest first
    assert (first["champion"], first["serving"], first["decision"]) == (True, True, "promoted")
    assert (second["champion"], second["serving"]) == (False, False)
    # Popularity twice on the same data and split: the same score, and a tie keeps version 1.
    assert second["decision"] == "kept champion"
    assert second["validation_score"] == first["validation_score"] == second["champion_score"]
    assert first["champion_score"] is None  # there was no champion to re-score
    assert first["model_class"] == second["model_class"] == "Popularity"


def test_runs_are_the_training_runs_newest_first_with_the_winners_metrics(api):
    runs = _get(api, "runs")
    versions = {v["version"]: v for v in _get(api, "models")["versions"]}
    assert [r["registered_version"] for r in runs] == ["2", "1"]
    for run in runs:
        assert (run["status"], run["engine"], run["activities"]) == ("FINISHED", "library", 900)
        assert run["seconds"] > 0 and run["finished_at"] >= run["started_at"]
        version = versions[int(run["registered_version"])]
        assert run["metrics"]["best_ndcg_at_10"] == pytest.approx(version["validation_score"])
    assert "does not beat" in runs[0]["decision"]
    assert len(_get(api, "runs", "?limit=1")) == 1
    for bad in ("?limit=0", "?limit=101", "?limit=x"):
        assert api.get("/admin/api/runs" + bad).status_code == 400


def test_promote_moves_the_champion_and_the_server_follows(api, wait_until):
    response = api.post("/admin/api/promote", json={"version": "2"})
    assert response.status_code == 200, response.get_json()
    reason = "promoted from the admin page by alice"
    assert response.get_json() == {
        "name": "discerner",
        "alias": "champion",
        "version": 2,
        "reason": reason,
    }
    versions = {v["version"]: v for v in _get(api, "models")["versions"]}
    assert versions[2]["champion"] and not versions[1]["champion"]
    assert versions[2]["reason"] == reason
    wait_until(lambda: _get(api, "models")["serving"]["version"] == "discerner/2")
    assert api.get("/users/1/recs").headers["X-Model-Version"] == "discerner/2"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"version": "99"}, 404),
        ({"version": "0"}, 400),
        ({"version": 2}, 400),  # a JSON number: the document promises text
        ({"version": "2", "alias": "other"}, 400),
        ({}, 400),
        (None, 400),
    ],
)
def test_promote_refuses_bad_input_and_changes_nothing(api, body, status):
    response = api.post("/admin/api/promote", json=body) if body is not None else None
    if response is None:
        response = api.post("/admin/api/promote")
    assert response.status_code == status
    assert response.get_json()["error"]["status"] == status
    assert _get(api, "models")["champion"] == 1


def test_every_admin_endpoint_needs_a_token(client):
    for endpoint in ENDPOINTS:
        response = client.get(f"/admin/api/{endpoint}")
        assert response.status_code == 401, endpoint
        assert response.get_json()["error"]["status"] == 401
    assert client.post("/admin/api/promote", json={"version": "2"}).status_code == 401
    assert client.post("/admin/api/train").status_code == 401


def test_experiments_are_none_yet(api):
    assert _get(api, "experiments") == []


def test_the_page_and_its_files_are_served_without_any_other_site(client):
    page = client.get("/admin")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    page.close()
    for name in ("admin.js", "admin.css"):
        response = client.get(f"/admin/static/{name}")
        assert response.status_code == 200
        response.close()
    for name in ("admin.html", "admin.js", "admin.css"):
        text = (STATIC / name).read_text()
        # The SVG namespace is a name, never fetched; anything else would need the internet.
        assert re.findall(r"https?://[^\s\"']+", text) in ([], ["http://www.w3.org/2000/svg"])


def test_the_page_reads_only_endpoints_of_the_openapi_document(client):
    paths = set(client.get("/openapi.json").get_json()["paths"])
    script = (STATIC / "admin.js").read_text()
    used = set(re.findall(r"""api\("(/[^"?]+)""", script)) | {"/token"}
    assert {"/admin/api/overview", "/admin/api/promote", "/admin/api/train"} <= used
    assert used <= paths
    assert {f"/admin/api/{name}" for name in ENDPOINTS} <= paths | {"/admin/api/promote"}


# ----------------------------------------------------------------------------- training runs
def test_train_refuses_unknown_families_and_starts_nothing(api):
    response = api.post("/admin/api/train", json={"candidates": ["nope"]})
    assert response.status_code == 400
    assert "popularity" in response.get_json()["error"]["message"]  # it names the known ones
    assert api.post("/admin/api/train", json={"candidates": []}).status_code == 400
    state = _get(api, "train")
    assert state["state"] == "idle" and "pure_svd" in state["families"]


@pytest.mark.slow
def test_train_runs_in_the_background_once_at_a_time(api, wait_until):
    response = api.post("/admin/api/train", json={"candidates": ["popularity"]})
    assert response.status_code == 202, response.get_json()
    assert response.headers["Location"].endswith("/admin/api/train")
    started = response.get_json()
    assert (started["state"], started["started_by"]) == ("running", "alice")
    assert started["candidates"] == ["popularity"]
    again = api.post("/admin/api/train")
    assert again.status_code == 409
    assert again.get_json()["error"]["message"] == "a training run is already running"
    wait_until(lambda: _get(api, "train")["state"] != "running", timeout=240)
    state = _get(api, "train")
    assert (state["state"], state["exit_code"], state["id"]) == ("succeeded", 0, started["id"])
    assert any("Registered version 3" in line for line in state["output"])
    # Popularity a third time ties with the champion: version 3 is registered and kept out.
    assert _get(api, "runs")[0]["registered_version"] == "3"
    assert _get(api, "models")["champion"] == 1


def test_a_second_runner_on_the_same_folder_finds_the_lock(app):
    home = Path(app.config["DISCERNER_HOME"])
    first = app.extensions["discerner"].training
    other = TrainingRunner(home, first.env, first.arguments)  # as another worker process
    first.start(["popularity"], "alice")
    try:
        with pytest.raises(TrainingRunning):
            other.start(["popularity"], "bob")
        assert other.status()["state"] == "running"  # it sees the first worker's run
    finally:
        first.close()  # what the server does when it stops: the run is terminated
    state = first.status()
    assert (state["state"], state["exit_code"]) == ("failed", -15)  # SIGTERM
    other.start(["popularity"], "bob")  # the lock went away with the process
    other.close()


def test_a_run_whose_process_is_gone_is_interrupted(app):
    runner = app.extensions["discerner"].training
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # What a server killed during a run leaves: "running" with a pid that is dead, or reused
    # by another process (this one, which started later than recorded).
    for pid in (gone.pid, os.getpid()):
        state = {"id": "1-2", "state": "running", "pid": pid, "process_started": 0.0}
        (runner.home / STATE_FILE).write_text(json.dumps(state))
        assert runner.status()["state"] == "interrupted"
