"""The feedback configuration a server uses: `GET /feedback-types` and its version in `/ready`."""

from __future__ import annotations

import os
from pathlib import Path

from discerner.feedback import FeedbackTypes


def test_feedback_types_shows_the_configuration_and_follows_the_file(api, app, client):
    home = Path(app.config["DISCERNER_HOME"])
    default = api.get("/feedback-types").get_json()
    assert default == {
        "types": {"score": {"weight": 1.0, "meaning": "positive"}},
        "unknown": {"weight": 1.0, "meaning": "positive"},
        "version": FeedbackTypes().version,
        "problem": None,
    }
    assert client.get("/ready").get_json()["feedback"] == {
        "version": FeedbackTypes().version,
        "problem": None,
    }
    configured = FeedbackTypes().with_type("dislike", 2.0, "negative")
    configured.save(home)  # as `discerner feedback set` does while the server runs
    body = api.get("/feedback-types").get_json()
    assert body["types"]["dislike"] == {"weight": 2.0, "meaning": "negative"}
    assert body["version"] == configured.version
    assert client.get("/ready").get_json()["feedback"]["version"] == configured.version
    (home / "feedback.yaml").write_text("types: nonsense\n")
    os.utime(home / "feedback.yaml", ns=(1, 1))
    broken = api.get("/feedback-types").get_json()
    assert broken["version"] == configured.version  # the last valid configuration stays
    assert "feedback.yaml: types: must map" in broken["problem"]


def test_feedback_types_needs_a_token(client):
    assert client.get("/feedback-types").status_code == 401
