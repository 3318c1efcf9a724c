"""Splits: sizes per user, determinism, no mutation, disjoint parts."""

import numpy as np
import pandas as pd

from discerner.evaluation import random_split, temporal_split, user_split


def make_frame():
    users = [1] * 10 + [2] * 5 + [3]
    return pd.DataFrame(
        {
            "user_id": users,
            "product_id": range(1, 17),
            "score": 1.0,
            "timestamp": pd.to_datetime(np.arange(16)[::-1], unit="D", utc=True),
        }
    )


def test_random_split_holds_out_a_rounded_fraction_per_user():
    frame = make_frame()
    copy = frame.copy()
    train, test = random_split(frame, 0.2, seed=1)
    pd.testing.assert_frame_equal(frame, copy)
    assert test.groupby("user_id").size().to_dict() == {1: 2, 2: 1}
    assert sorted(train.index.append(test.index)) == list(frame.index)
    again, _ = random_split(frame, 0.2, seed=1)
    pd.testing.assert_frame_equal(train, again)
    other, _ = random_split(frame, 0.5, seed=2)
    assert len(other) == 16 - 5 - 3 - 1


def test_temporal_split_holds_out_the_latest_rows():
    train, test = temporal_split(make_frame(), n_last=2)
    # Timestamps decrease with the row number: the first rows of each user are the newest.
    assert sorted(test["product_id"]) == [1, 2, 11, 12]
    assert 16 in set(train["product_id"])


def test_user_split_separates_users():
    frame = make_frame()
    train, test = user_split(frame, test_fraction=0.34, seed=3)
    assert test["user_id"].nunique() == 1
    assert not set(train["user_id"]) & set(test["user_id"])
    assert len(train) + len(test) == len(frame)
