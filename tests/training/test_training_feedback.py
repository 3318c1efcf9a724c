"""Training applies the data folder's feedback types and records them in the run."""

import mlflow
import numpy as np
import pytest

from discerner import training
from discerner.feedback import FeedbackTypes
from discerner.models import Popularity


def test_training_weighs_drops_and_logs_feedback_types(home, generated):
    configured = FeedbackTypes().with_type("view", 0.5, "positive").with_type("seen", 1, "ignore")
    configured.save(home)
    frame = generated.activities
    ignored_user = int(frame["user_id"].iloc[0])
    frame = frame.assign(type=np.where(frame["user_id"] == ignored_user, "seen", "view"))
    settings = training.TrainSettings(candidates={"popularity": Popularity()})
    outcome = training.train(settings, frame)
    params = mlflow.get_run(outcome.run_id).data.params
    assert params["feedback.view.weight"] == "0.5"
    assert params["feedback.seen.meaning"] == "ignore"
    assert params["feedback.unknown types.meaning"] == "positive"
    assert params["data_feedback"] == configured.version == params["feedback.version"]
    model = outcome.model  # refitted on all the data, as training saw it
    assert ignored_user not in model.user_ids_.tolist()
    # A (user, product) pair with one activity of type view holds half its score.
    once = frame[~frame.duplicated(["user_id", "product_id"], keep=False)]
    row = once[once["user_id"] != ignored_user].iloc[0]
    user = int(np.searchsorted(model.user_ids_, row["user_id"]))
    product = int(np.searchsorted(model.product_ids_, row["product_id"]))
    assert model.user_items_[user, product] == pytest.approx(0.5 * row["score"])
