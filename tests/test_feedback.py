"""Feedback types: weights and meanings per activity type, their file, the CLI and applying them."""

import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from discerner import feedback
from discerner.cli import main
from discerner.errors import FeedbackConfigError, TrainingError
from discerner.feedback import Feedback, FeedbackTypes


@pytest.fixture
def shop_feedback():
    """view: 0.5 positive; dislike: 2 negative; seen: ignored; other types: 3 positive."""
    return FeedbackTypes.from_dict(
        {
            "types": {
                "score": {"weight": 1.0, "meaning": "positive"},
                "view": {"weight": 0.5},
                "dislike": {"weight": 2, "meaning": "negative"},
                "seen": {"meaning": "ignore"},
            },
            "unknown": {"weight": 3.0},
        }
    )


def test_apply_to_a_three_user_frame_by_hand(shop_feedback):
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3, 3],
            "product_id": [10, 11, 10, 12, 11, 12],
            "score": [4.0, 2.0, 3.0, -1.5, 1.0, 5.0],
            "type": ["score", "view", "dislike", "dislike", "seen", "like"],
        },
        index=[5, 6, 7, 8, 9, 10],
    )
    out = shop_feedback.apply(frame)
    # score 4 x 1 = 4; view 2 x 0.5 = 1; dislike -|3 x 2| = -6 and -|-1.5 x 2| = -3;
    # seen: dropped; like has no entry: unknown, 5 x 3 = 15.
    assert out["score"].tolist() == [4.0, 1.0, -6.0, -3.0, 15.0]
    assert out.index.tolist() == [5, 6, 7, 8, 10]
    assert out["type"].tolist() == ["score", "view", "dislike", "dislike", "like"]
    assert out["user_id"].tolist() == [1, 1, 2, 2, 3]
    assert frame["score"].tolist() == [4.0, 2.0, 3.0, -1.5, 1.0, 5.0]  # input untouched


def test_a_frame_without_types_counts_as_score():
    weighted = FeedbackTypes().with_type("score", 2.0, "positive")
    frame = pd.DataFrame({"user_id": [1, 2], "product_id": [1, 1], "score": [1.0, 3.0]})
    assert weighted.apply(frame)["score"].tolist() == [2.0, 6.0]
    assert FeedbackTypes().apply(frame).equals(frame)  # the default changes nothing


def test_apply_to_one_history_by_hand(shop_feedback):
    products = np.array([7, 8, 9, 10])
    scores = np.array([1.0, 4.0, 2.0, 1.0])
    types = np.array(["view", "seen", "dislike", "score"])
    got = shop_feedback.apply_history(products, scores, types)
    # view 1 x 0.5; seen dropped; dislike -|2 x 2|; score 1 x 1.
    assert got[0].tolist() == [7, 9, 10]
    assert got[1].tolist() == [0.5, -4.0, 1.0]
    assert got[2].tolist() == ["view", "dislike", "score"]
    empty = shop_feedback.apply_history(np.array([], int), np.array([]), np.array([], str))
    assert [len(part) for part in empty] == [0, 0, 0]


def test_the_default_and_a_saved_configuration_read_back(home, shop_feedback):
    assert FeedbackTypes.load(home) == FeedbackTypes()
    assert FeedbackTypes().to_dict() == {
        "types": {"score": {"weight": 1.0, "meaning": "positive"}},
        "unknown": {"weight": 1.0, "meaning": "positive"},
    }
    path = shop_feedback.save(home)
    assert path == home / "feedback.yaml"
    loaded = FeedbackTypes.load(home)
    assert loaded == shop_feedback and loaded.version == shop_feedback.version
    assert loaded.of("dislike") == Feedback(2.0, "negative")
    assert loaded.of("anything") == Feedback(3.0, "positive")
    assert loaded.version != FeedbackTypes().version
    assert not list(home.glob(".*tmp"))  # written through a temporary file, renamed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("types: [1]", "types: must map type names"),
        ("types:\n  view: {weight: 0}", "types.view.weight: must be a positive finite number"),
        ("types:\n  view: {weight: .nan}", "types.view.weight: must be a positive finite"),
        ("types:\n  view: {weight: yes}", "types.view.weight: must be a positive finite"),
        ("types:\n  view: {meaning: love}", "types.view.meaning: must be one of positive,"),
        ("types:\n  view: {weigth: 2}", "types.view.weigth: unknown key"),
        ("types:\n  two words: {}", "types.two words: a type is 1-64 letters"),
        ("unknown: {meaning: nope}", "unknown.meaning: must be one of"),
        ("colour: red", "colour: unknown key"),
        ("types: {view: [", "not valid YAML"),
        ("- 1", "must be a mapping"),
    ],
)
def test_a_broken_file_names_the_file_and_the_key(home, text, message):
    home.mkdir(parents=True)
    (home / "feedback.yaml").write_text(text)
    with pytest.raises(FeedbackConfigError, match=r"feedback\.yaml: ") as error:
        FeedbackTypes.load(home)
    assert message in str(error.value)
    with pytest.raises(TrainingError, match=r"feedback\.yaml: "):
        feedback.training_config(home)


def test_run_params_name_every_type(shop_feedback):
    params = shop_feedback.with_type("rating:bad", 1.5, "negative").run_params()
    assert params["feedback.view.weight"] == 0.5
    assert params["feedback.seen.meaning"] == "ignore"
    assert params["feedback.rating/bad.meaning"] == "negative"  # MLflow keys cannot hold ':'
    assert params["feedback.unknown types.weight"] == 3.0
    assert len(params["feedback.version"]) == 12


def test_current_follows_the_file_and_keeps_the_last_valid_one(home, shop_feedback):
    assert feedback.current(home) == FeedbackTypes()
    shop_feedback.save(home)
    assert feedback.current(home) == shop_feedback
    assert feedback.current(home) is feedback.current(home)  # cached until the file changes
    path = home / "feedback.yaml"
    path.write_text("types:\n  view: {weight: -1}\n")
    os.utime(path, ns=(1, 1))  # a new mtime even within the file system's time resolution
    assert feedback.current(home) == shop_feedback
    assert "types.view.weight" in feedback.problem(home)
    path.unlink()
    assert feedback.current(home) == FeedbackTypes() and feedback.problem(home) is None


def test_for_training_adds_the_version_and_refuses_all_ignored(home, shop_feedback):
    shop_feedback.save(home)
    frame = pd.DataFrame({"user_id": [1], "product_id": [1], "score": [1.0], "type": ["view"]})
    applied, version = feedback.for_training(frame, {"hash": "h"}, home)
    assert applied["score"].tolist() == [0.5]
    assert version == {"hash": "h", "feedback": shop_feedback.version}
    with pytest.raises(TrainingError, match="ignore"):
        feedback.for_training(frame.assign(type="seen"), {}, home)


def _run(*args):
    return CliRunner().invoke(main, ["feedback", *args])


def test_the_cli_lists_sets_and_removes_types(home):
    listed = _run("list")
    assert listed.exit_code == 0 and listed.output.splitlines()[:2] == [
        "score\t1\tpositive",
        "(other types)\t1\tpositive",
    ]
    assert _run("set", "view", "--weight", "0.2").exit_code == 0
    assert _run("set", "rating:bad", "--meaning", "negative").exit_code == 0
    assert _run("set", "view", "--meaning", "ignore").exit_code == 0  # the weight stays 0.2
    assert FeedbackTypes.load(home).to_dict()["types"] == {
        "rating:bad": {"weight": 1.0, "meaning": "negative"},
        "score": {"weight": 1.0, "meaning": "positive"},
        "view": {"weight": 0.2, "meaning": "ignore"},
    }
    assert "view\t0.2\tignore" in _run("list").output
    assert _run("remove", "view").exit_code == 0
    assert "view" not in FeedbackTypes.load(home).types


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "view", "--weight", "-1"], "types.view.weight: must be a positive finite"),
        (["set", "two words"], "types.two words: a type is"),
        (["set", "view", "--meaning", "love"], "Invalid value for '--meaning'"),
        (["remove", "never"], "no entry for type 'never'"),
    ],
)
def test_the_cli_refuses_bad_input_and_changes_nothing(home, args, message):
    result = _run(*args)
    assert result.exit_code == (2 if "--meaning" in args else 1)  # 2: click's usage error
    assert message in result.output
    assert not (home / "feedback.yaml").exists()
